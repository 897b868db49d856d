"""Technique tasks: focused probes of ML craft, each planting a known trap into a prepared competition.

- `base`: the `TechniqueTask` contract and the registry (`get_task`, `TASK_NAMES`)
- `imbalance`, `missing`, `encoding`, `cv`, `scaling`, `leakage`: the six tasks
- `sources`: how a competition's labelled rows become the table a task plants into
- `preparation`: `prepare_technique_task` (derive into `<data-dir>/technique/<task>/<competition>/prepared/`)
- `grading`: `grade_technique_task` (a `GradeReport` with per-item details), `validate_technique_analysis`

docs/technique_tasks.md has the table of what each task plants, asks and scores.
"""
