"""Library shared by the pipeline stages: data readers, models, losses, refinement, metrics, I/O."""

__version__ = "0.1.0"
