"""The synthetic demo world and the small CLIP trained on it (nothing outside this package imports it)."""
