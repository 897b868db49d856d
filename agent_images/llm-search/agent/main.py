"""llm-search: a small tree search over solutions written by a language model, in the spirit of AIDE.

Drafts a few solutions, runs each in this container with a timeout, reads the validation metric it
prints, then improves the best one or debugs a broken one, step after step, within a step budget
and a time budget. The best solution's submission is checked through the grader socket and left in
/home/submission. Every node's plan, code, execution result and metric are rollout events. It talks
to the model with the official `openai` package; in a run the service proxies the calls.

Settings (environment): LLM_SEARCH_MODEL (default: the first of MLEREDUX_MODELS, else gpt-4o-mini),
LLM_SEARCH_STEPS (8), LLM_SEARCH_DRAFTS (2), LLM_SEARCH_MAX_DEBUG_DEPTH (2),
LLM_SEARCH_EXEC_TIMEOUT (600 s per script), LLM_SEARCH_TEMPERATURE (0.7), TIME_LIMIT_SECS (the run's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from journal import Journal, Node, Rollout
from llm import BudgetExhausted, Model
from prompts import DEBUG, DRAFT, IMPROVE, SYSTEM, TASK

DATA = Path(os.environ.get("DATA_DIR", "/home/data"))
SUBMISSION_DIR = Path(os.environ.get("SUBMISSION_DIR", "/home/submission"))
CODE_DIR = Path(os.environ.get("CODE_DIR", "/home/code"))
LOGS_DIR = Path(os.environ.get("LOGS_DIR", "/home/logs"))
VALIDATE = "/home/validate_submission.sh"
METRIC = re.compile(r"^VALIDATION_METRIC:\s*([-+0-9.eE]+|nan|inf)\s*$", re.MULTILINE | re.IGNORECASE)
LOWER = re.compile(r"^LOWER_IS_BETTER:\s*(true|false)\s*$", re.MULTILINE | re.IGNORECASE)
#: Time kept back at the end for validating and copying the submission.
RESERVE_SECONDS = 30.0


def env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def describe_files() -> str:
    lines = []
    for path in sorted(DATA.iterdir()):
        if path.is_file():
            line = f"- {path.name} ({path.stat().st_size} bytes)"
            if path.suffix == ".csv":
                with path.open(errors="replace") as f:
                    header = f.readline().strip()
                line += f"; columns: {header[:300]}"
            lines.append(line)
    return "\n".join(lines)


def cpus() -> float:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        return int(quota) / int(period) if quota != "max" else float(os.cpu_count() or 1)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 else float(os.cpu_count() or 1)
    except (OSError, ValueError):
        return float(os.cpu_count() or 1)


def execute(node: Node, timeout: float) -> None:
    """Runs the node's script in its own dir with a timeout; reads its metric and submission."""
    work = CODE_DIR / f"node_{node.id:03d}"
    work.mkdir(parents=True, exist_ok=True)
    script = work / "solution.py"
    script.write_text(node.code)
    submission = work / "submission.csv"
    env = {**os.environ, "SUBMISSION_PATH": str(submission), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        node.exit_code = done.returncode
        node.output = (done.stdout + done.stderr)[-8000:]
    except subprocess.TimeoutExpired as exc:
        node.timed_out = True
        node.exit_code = -9
        out = exc.stdout or b""
        node.output = (out.decode(errors="replace") if isinstance(out, bytes) else out)[-4000:]
        node.error = f"the script did not finish within {timeout:.0f}s and was killed"
    node.seconds = round(time.monotonic() - started, 2)
    found = METRIC.findall(node.output)
    if found:
        try:
            node.metric = float(found[-1])
        except ValueError:
            node.metric = None
        if node.metric is not None and node.metric != node.metric:  # nan
            node.metric = None
    lower = LOWER.findall(node.output)
    node.lower_is_better = bool(lower) and lower[-1].lower() == "true"
    node.submission = submission if submission.is_file() and submission.stat().st_size > 0 else None
    if not node.error:
        if node.exit_code != 0:
            node.error = f"the script exited with code {node.exit_code}"
        elif node.metric is None:
            node.error = "the script printed no VALIDATION_METRIC line"
        elif node.submission is None:
            node.error = "the script wrote no submission to SUBMISSION_PATH"


def validate(path: Path) -> tuple[bool, str]:
    try:
        done = subprocess.run(["sh", VALIDATE, str(path)], capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"validation could not run: {exc}"
    text = (done.stdout + done.stderr).strip()
    return done.returncode == 0, text[-2000:]


def main() -> int:
    rollout = Rollout(LOGS_DIR / "rollout.jsonl")
    started = time.monotonic()
    time_limit = env_number("TIME_LIMIT_SECS", 3600)
    steps = int(env_number("LLM_SEARCH_STEPS", 8))
    drafts = int(env_number("LLM_SEARCH_DRAFTS", 2))
    max_debug = int(env_number("LLM_SEARCH_MAX_DEBUG_DEPTH", 2))
    exec_timeout = env_number("LLM_SEARCH_EXEC_TIMEOUT", 600)
    models = [m for m in os.environ.get("MLEREDUX_MODELS", "").split(",") if m]
    model_name = os.environ.get("LLM_SEARCH_MODEL") or (models[0] if models else "gpt-4o-mini")
    model = Model(model_name, env_number("LLM_SEARCH_TEMPERATURE", 0.7), timeout=min(600.0, time_limit))
    description = (DATA / "description.md").read_text(errors="replace")[:12000]
    task = TASK.format(description=description, data=DATA, files=describe_files())
    system = SYSTEM.format(data=DATA, timeout=int(exec_timeout), cpus=f"{cpus():g}")
    journal = Journal(rollout)
    rollout.event(
        0,
        "plan",
        {"text": f"tree search with {model_name}: {drafts} drafts, {steps} steps at most", "model": model_name},
    )
    stopped = "step budget used"

    for step in range(1, steps + 1):
        remaining = time_limit - (time.monotonic() - started) - RESERVE_SECONDS
        if remaining <= 10:
            stopped = "time budget used"
            break
        best = journal.best()
        buggy = journal.buggy_leaves(max_debug)
        if len([n for n in journal.nodes if n.stage == "draft"]) < drafts or (best is None and not buggy):
            node = journal.add("draft", None)
            prompt = DRAFT.format(task=task, summary=journal.summary(), index=node.id + 1)
        elif buggy and (best is None or step % 3 == 0):
            parent = buggy[-1]
            node = journal.add("debug", parent.id)
            prompt = DEBUG.format(task=task, code=parent.code, output=parent.output[-3000:], error=parent.error)
        else:
            assert best is not None
            node = journal.add("improve", best.id)
            prompt = IMPROVE.format(task=task, metric=f"{best.metric:.5g}", plan=best.plan, code=best.code)
        try:
            answer = model.ask(system, prompt)
        except BudgetExhausted as exc:
            rollout.event(step, "error", {"node": node.id, "message": f"model budget exhausted: {exc}"})
            journal.nodes.pop()
            stopped = "model budget exhausted"
            break
        except Exception as exc:  # the model is down or refused: note it and carry on with the next step
            rollout.event(
                step, "error", {"node": node.id, "message": f"model call failed: {type(exc).__name__}: {exc}"}
            )
            node.error = "the model call failed"
            node.exit_code = None
            continue
        node.plan, node.code = answer.plan, answer.code
        rollout.event(step, "plan", {"node": node.id, "stage": node.stage, "parent": node.parent, "text": node.plan})
        rollout.event(step, "code", {"node": node.id, "language": "python", "text": node.code})
        if not node.code:
            node.error = "the answer had no python code block"
            rollout.event(step, "execution", {"node": node.id, "error": node.error})
            continue
        execute(node, min(exec_timeout, max(remaining, 1.0)))
        rollout.event(
            step,
            "execution",
            {
                "node": node.id,
                "exit_code": node.exit_code,
                "timed_out": node.timed_out,
                "seconds": node.seconds,
                "output_tail": node.output[-1500:],
                "error": node.error,
            },
        )
        rollout.event(
            step,
            "metric",
            {"node": node.id, "value": node.metric, "lower_is_better": node.lower_is_better, "buggy": node.buggy},
        )
        print(f"step {step}: node {node.id} ({node.stage}) metric={node.metric} {node.error}", flush=True)

    best = journal.best()
    if best is None or best.submission is None:
        rollout.event(steps, "result", {"message": f"no working solution ({stopped})", "nodes": len(journal.nodes)})
        print(f"llm-search: no working solution after {len(journal.nodes)} nodes ({stopped})", flush=True)
        return 1
    SUBMISSION_DIR.mkdir(parents=True, exist_ok=True)
    final = SUBMISSION_DIR / "submission.csv"
    shutil.copyfile(best.submission, final)
    shutil.copyfile(CODE_DIR / f"node_{best.id:03d}" / "solution.py", CODE_DIR / "best_solution.py")
    valid, message = validate(final)
    rollout.event(steps, "validation", {"node": best.id, "valid": valid, "message": message})
    rollout.event(
        steps,
        "result",
        {"best_node": best.id, "metric": best.metric, "nodes": len(journal.nodes), "stopped": stopped, "valid": valid},
    )
    print(f"llm-search: best node {best.id} metric {best.metric} ({stopped}); valid submission: {valid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
