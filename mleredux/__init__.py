"""MLE-Bench Redux: an evaluation service for ML agents."""

__version__ = "0.1.0"
