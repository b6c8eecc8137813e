"""Device choice: CUDA when present, else CPU."""

import torch


def pick_device() -> torch.device:
    """The first CUDA device if one is available, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
