"""Exceptions the pipeline raises for bad user input (always naming the offending file)."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names the file."""


class ConfigError(ValueError):
    """A configuration or manifest file does not satisfy its schema."""


class WriteError(OSError):
    """Writing a result failed, a full disk most often; the message names the file and the free space."""
