"""The preparer service."""
