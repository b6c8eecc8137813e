"""The CLIMS method itself: its losses, multi-scale CAM inference and the CAM files."""
