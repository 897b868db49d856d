"""Technique tasks: focused probes of ML craft (filled in by the technique-tasks issue)."""
