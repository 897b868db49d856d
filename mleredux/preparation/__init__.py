"""Preparing competitions: splits into the MLE-bench layout, Kaggle download, pre-flight checks, published datasets."""
