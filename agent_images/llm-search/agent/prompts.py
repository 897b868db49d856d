"""What the agent asks the model: a draft, an improvement of the best solution, a fix of a broken one."""

from __future__ import annotations

SYSTEM = """You are a Kaggle grandmaster solving a machine learning competition with a short Python script.
Answer with a brief plan in prose (3-6 sentences), then ONE complete Python script in a ```python block.
The script must:
- read the competition files from {data};
- hold out part of the training data, and print the validation score of the competition's metric as
  a line `VALIDATION_METRIC: <number>`, and a line `LOWER_IS_BETTER: true` or `LOWER_IS_BETTER: false`;
- write predictions for the test set, in the sample submission's format, to the path in the
  environment variable SUBMISSION_PATH;
- finish within {timeout} seconds on {cpus} CPU(s), with no network and no package installs
  (numpy, pandas, scikit-learn and scipy are available)."""

TASK = """# Competition
{description}

# Files in {data}
{files}
"""

DRAFT = """{task}
# Solutions so far
{summary}

Write a new, simple solution (stage: draft {index}). Prefer a different model family from the ones above."""

IMPROVE = """{task}
# The best solution so far (metric {metric})
Plan: {plan}
```python
{code}
```

Propose ONE specific change that should improve the validation metric (stage: improve) and give the
whole updated script."""

DEBUG = """{task}
# A script that failed
```python
{code}
```
# Its output (last lines)
```
{output}
```
{error}
Fix the bug (stage: debug) and give the whole corrected script."""
