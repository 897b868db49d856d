"""scikit-learn's `train_test_split`, imported when a competition is prepared, not when it is graded.

Every competition module splits with it at prepare time; importing scikit-learn at module level
would make each grade pay for it (most of a one-shot grader's start-up).
"""

from __future__ import annotations

from typing import Any


def train_test_split(*arrays: Any, **options: Any) -> Any:
    from sklearn.model_selection import train_test_split as split

    return split(*arrays, **options)
