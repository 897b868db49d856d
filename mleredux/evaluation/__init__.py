"""Evaluations: an agent on a competition set with several seeds, aggregated as MLE-bench aggregates."""
