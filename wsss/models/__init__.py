"""Networks: ResNet backbones, the CAM network, IRN, the DeepLab segmenter and the frozen CLIP scorer."""
