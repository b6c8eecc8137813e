"""Training-free seed sources read out of a frozen CLIP ViT: CLIP-ES (Grad-CAM with class-aware
attention refinement) and MaskCLIP (dense features of the last block's value path)."""
