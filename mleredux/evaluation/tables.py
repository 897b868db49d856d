"""How an evaluation looks in a terminal: its progress line, its aggregate table, its comparison."""

from __future__ import annotations

from mleredux.evaluation.aggregate import FIGURES
from mleredux.evaluation.compare import Comparison
from mleredux.v1 import gateway_pb2

LABELS: dict[str, str] = {
    "any_medal": "any medal %",
    "gold_medal": "gold %",
    "silver_medal": "silver %",
    "bronze_medal": "bronze %",
    "above_median": "above median %",
    "valid_submission": "valid submission %",
    "submission_exists": "submission exists %",
}


def state_name(state: int) -> str:
    return gateway_pb2.EvaluationState.Name(state).removeprefix("EVALUATION_STATE_")  # type: ignore[arg-type]


def progress_line(progress: gateway_pb2.EvaluationProgress, width: int = 20) -> str:
    """`[######--------------]  3/10 done, 2 running, 5 queued; medals 1; 0 system failures, 0 retries`."""
    fraction = progress.done / progress.total if progress.total else 0.0
    filled = round(fraction * width)
    line = (
        f"[{'#' * filled}{'-' * (width - filled)}] {progress.done}/{progress.total} done, "
        f"{progress.running} running, {progress.queued} queued; medals {progress.medals}"
    )
    if progress.agent_failures:
        line += f"; {progress.agent_failures} agent failures"
    if progress.system_failures or progress.retries:
        line += f"; {progress.system_failures} system failures, {progress.retries} retries"
    if progress.cancelled:
        line += f"; {progress.cancelled} cancelled"
    if progress.run_seconds:
        line += f"; {progress.run_seconds / 60:.1f} run-minutes"
    used = progress.model_usage
    if used.calls or used.refused:
        tokens = used.input_tokens + used.output_tokens
        line += f"; model {used.calls} calls, {tokens} tokens, ${used.cost_usd:.4f}"
    return line


def aggregate_table(evaluation: gateway_pb2.Evaluation) -> str:
    """Rows are the figures, columns the groups; each cell `mean ± SE` in percent."""
    groups = list(evaluation.figures)
    if not groups:
        return "(no figures yet)"
    headers = [f"{g.group} ({g.competitions} x {g.seeds} seeds)" for g in groups]
    label_width = max(len(v) for v in LABELS.values())
    cells = [[f"{getattr(g, f).mean:6.1f} ± {getattr(g, f).standard_error:4.1f}" for g in groups] for f in FIGURES]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["".ljust(label_width) + "  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    for figure, row in zip(FIGURES, cells, strict=True):
        lines.append(
            LABELS[figure].ljust(label_width) + "  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
        )
    lines.append("(mean ± standard error across seeds; 95% interval = mean ± 1.96 SE)")
    return "\n".join(lines)


def competitions_table(evaluation: gateway_pb2.Evaluation) -> str:
    rows = [("competition", "complexity", "scored", "score mean", "score sd", "min", "max")]

    def number(message: gateway_pb2.EvaluationCompetitionFigures, name: str) -> str:
        return f"{getattr(message, name):.6g}" if message.HasField(name) else "-"  # type: ignore[arg-type]

    for c in evaluation.competitions:
        rows.append(
            (
                c.competition_id,
                c.complexity,
                str(c.scored),
                number(c, "score_mean"),
                number(c, "score_std"),
                number(c, "score_min"),
                number(c, "score_max"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def summary(evaluation: gateway_pb2.Evaluation) -> str:
    name = f" {evaluation.name!r}" if evaluation.name else ""
    where = f"split {evaluation.split}" if evaluation.split else f"{len(evaluation.competition_ids)} competitions"
    task = f", technique task {evaluation.task}" if evaluation.task else ""
    if evaluation.hint_evaluation_id:
        hints = f", hints from evaluation {evaluation.hint_evaluation_id} ({len(evaluation.hint_run_ids)} runs)"
    elif evaluation.hint_run_ids:
        hints = f", hints from {len(evaluation.hint_run_ids)} runs"
    else:
        hints = ""
    return (
        f"evaluation {evaluation.evaluation_id}{name}: {evaluation.agent} on {where} x {evaluation.seeds} seeds{task}"
        f"{hints} (concurrency {evaluation.concurrency}) {state_name(evaluation.state)}: {evaluation.message}"
    )


def comparison_table(comparison: Comparison, a_label: str, b_label: str) -> str:
    rows = [("figure", a_label, b_label, "B - A", "95% interval", "distinguishable")]
    for d in comparison.differences:
        rows.append(
            (
                LABELS[d.figure],
                f"{d.a:.1f}",
                f"{d.b:.1f}",
                f"{d.difference:+.1f}",
                f"[{d.ci_lower:+.1f}, {d.ci_upper:+.1f}]",
                "yes" if d.excludes_zero else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(
        f"(paired bootstrap over {comparison.competitions} competitions and seeds ({comparison.seeds_a} vs "
        f"{comparison.seeds_b}), {comparison.resamples} resamples; distinguishable = the interval excludes 0)"
    )
    return "\n".join(lines)
