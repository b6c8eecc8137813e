"""Datasets: manifests, the VOC-layout reader, images, training transforms, label folders and writers."""
