"""Grading: metrics, medal thresholds, format checks, grade reports and batch grading (no service)."""
