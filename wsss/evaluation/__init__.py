"""Scoring: confusion matrices and IoU tables, CAM seeds, label folders."""
