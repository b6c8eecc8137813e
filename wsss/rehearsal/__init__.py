"""Miniature copies of the real datasets and random-init weights in the real file formats.

The rehearsal runs the VOC and COCO configs end to end at the sizes users run (500 px images,
ResNet-50/101, CLIP ViT-B/32), on a few images, through the same loading code as a real run. Content
is random; the layouts, formats, image sizes and model architectures are the real ones.
"""
