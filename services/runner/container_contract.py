"""The container contract: where a run's container finds its data, writes its outputs, reaches the
grader, and what it is told (MLE-bench compatible paths, instructions, environment, labels)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mleredux.images import validate_script
from services.runner.backends.base import ContainerSpec, Mount
from services.runner.limits import RunLimits
from services.runner.run_disk import DISK_DIR
from services.runner.run_request import RunRequest

#: Where the container contract puts things (MLE-bench compatible paths).
DATA_DIR = "/home/data"
SUBMISSION_DIR = "/home/submission"
CODE_DIR = "/home/code"
LOGS_DIR = "/home/logs"
AGENT_DIR = "/home/agent"
#: Under /home and in the work dir: the agent's arguments as JSON (from its manifest).
AGENT_ARGS_FILE = "agent_args.json"
SOCKET_DIR = "/run/mleredux"
SOCKET_NAME = "grader.sock"

#: The agent's writable areas: subdir of the run's disk → path in the container. Everything in them
#: is uploaded; /tmp shares the disk (and its limit) but is not kept.
OUTPUT_AREAS = {"submission": SUBMISSION_DIR, "code": CODE_DIR, "logs": LOGS_DIR}
TMP_AREA = "tmp"

#: Container labels: the run, and the runner that owns it (a restarted runner finds its own by these).
RUN_LABEL = "mleredux.run_id"
RUNNER_LABEL = "mleredux.runner"

#: The script every container gets at /home/validate_submission.sh.
VALIDATE_SCRIPT = validate_script()  # inside the installed package, or the source tree (mleredux.images)

TECHNIQUE_INSTRUCTIONS = """\
You are an agent working on the technique task {task}, derived from the competition {competition_id}.

- The task's files are in {data} (read-only): start with description.md, which says what to analyse.
- Write your analysis to {submission}/{task}_analysis.json following {data}/{task}_analysis.schema.json,
  and, when description.md asks for one, predictions to {submission}/submission.csv.
- Keep your code in {code} and anything worth keeping in {logs}: both are saved as artifacts.
- Append one JSON object per line to {logs}/rollout.jsonl to record what you do.
- Check a file's format (never its score) with: sh /home/validate_submission.sh FILE
- You have no network. Your time limit is {time_limit} seconds.
"""

DEFAULT_INSTRUCTIONS = """\
You are an agent solving the competition {competition_id}.

- The competition's files and its description are in {data} (read-only): start with description.md.
- Write your predictions to {submission}/submission.csv in the format of the sample submission in
  {data} (sample_submission.csv, or the name description.md gives). It is the only file graded.
- Keep your code in {code} and anything worth keeping in {logs}: both are saved as artifacts.
- Append one JSON object per line to {logs}/rollout.jsonl to record what you do, e.g.
  {{"step": 1, "kind": "plan", "payload": {{"text": "..."}}}}.
- Check your submission's format (never its score) with: sh /home/validate_submission.sh FILE
- You have no network. Your time limit is {time_limit} seconds.
"""


#: Where an evaluation's hints (earlier runs' technique analyses, never anything answer-derived) are
#: mounted read-only. A run whose env names HINTS_DIR (the gateway sets it on hinted runs) gets them
#: from the store under runs/<run_id>/hints/; other runs never look, so they need no store to start.
HINTS_DIR = "/home/hints"
#: The most hint bytes a run is given (the gateway assembles far less; this bounds a corrupt store).
MAX_HINT_BYTES = 64 << 20
HINTS_NOTE = """
- {hints} (read-only) holds hints assembled from earlier runs on this competition: analyses written by
  agents for technique tasks (and possibly their rollouts). They contain no scores and nothing derived
  from the competition's answers. {hints}/README.md says what each file is.
"""


def has_hints(work_dir: Path) -> bool:
    hints = work_dir / "hints"
    return hints.is_dir() and any(hints.iterdir())


def instructions(request: RunRequest) -> str:
    """What the agent reads at /home/instructions.txt: the request's own text, or the template."""
    template = TECHNIQUE_INSTRUCTIONS if request.task else DEFAULT_INSTRUCTIONS
    return request.instructions or template.format(
        task=request.task,
        competition_id=request.competition_id,
        data=DATA_DIR,
        submission=SUBMISSION_DIR,
        code=CODE_DIR,
        logs=LOGS_DIR,
        time_limit=request.time_limit_seconds,
    )


def areas_root(work_dir: Path) -> Path:
    """Where the writable areas are on the host: the run's disk (see run_disk.py)."""
    return work_dir / DISK_DIR


def area_dir(work_dir: Path, name: str) -> Path:
    return areas_root(work_dir) / name


def prepare_work_dir(work_dir: Path, request: RunRequest) -> None:
    """The host side of the contract: the writable areas on the run's disk, the socket dir and the
    instructions."""
    for name in (*OUTPUT_AREAS, TMP_AREA):
        path = area_dir(work_dir, name)
        path.mkdir(parents=True, exist_ok=True)
        # The agent runs unprivileged; it must be able to write its outputs here (/tmp: sticky).
        os.chmod(path, 0o1777 if name == TMP_AREA else 0o777)
    (work_dir / "sock").mkdir(exist_ok=True)
    os.chmod(work_dir / "sock", 0o755)
    text = instructions(request)
    if has_hints(work_dir):
        text += HINTS_NOTE.format(hints=HINTS_DIR)
    (work_dir / "instructions.txt").write_text(text)
    # A copy in the work dir, not the package's file: when the runner itself runs in a container, only
    # the work dir is at the same path for the Docker engine that mounts it (deploy/compose.yaml).
    shutil.copyfile(VALIDATE_SCRIPT, work_dir / VALIDATE_SCRIPT.name)
    (work_dir / AGENT_ARGS_FILE).write_text(request.agent_args_json or "{}")


def container_spec(
    request: RunRequest, work_dir: Path, public_dir: Path, runner_id: str, limits: RunLimits | None = None
) -> ContainerSpec:
    """The container a run gets: its mounts, environment, labels and limits."""
    limits = limits or RunLimits()
    mounts = [
        Mount(str(public_dir), DATA_DIR, read_only=True),
        *(Mount(str(area_dir(work_dir, name)), target) for name, target in OUTPUT_AREAS.items()),
        Mount(str(area_dir(work_dir, TMP_AREA)), "/tmp"),
        # The socket's directory, not the socket: a re-created socket gets a new inode (and a
        # restarted runner re-creates it).
        Mount(str(work_dir / "sock"), SOCKET_DIR, read_only=True),
        Mount(str(work_dir / "instructions.txt"), "/home/instructions.txt", read_only=True),
        Mount(str(work_dir / VALIDATE_SCRIPT.name), "/home/validate_submission.sh", read_only=True),
        # The agent's manifest arguments (MLE-bench #38): a file, and AGENT_ARGS below.
        Mount(str(work_dir / AGENT_ARGS_FILE), f"/home/{AGENT_ARGS_FILE}", read_only=True),
    ]
    if has_hints(work_dir):
        mounts.append(Mount(str(work_dir / "hints"), HINTS_DIR, read_only=True))
    env = {
        **request.env,
        "COMPETITION_ID": request.competition_id,
        "SUBMISSION_DIR": SUBMISSION_DIR,
        "LOGS_DIR": LOGS_DIR,
        "CODE_DIR": CODE_DIR,
        "AGENT_DIR": AGENT_DIR,
        "TIME_LIMIT_SECS": str(request.time_limit_seconds),
        "MLEREDUX_RUN_ID": request.run_id,
        "MLEREDUX_GRADER_SOCKET": f"{SOCKET_DIR}/{SOCKET_NAME}",
    }
    if request.task:
        env["MLEREDUX_TASK"] = request.task
    env["AGENT_ARGS"] = request.agent_args_json or "{}"
    return ContainerSpec(
        name=f"mleredux-{request.run_id}",
        image=request.image,
        env=env,
        mounts=mounts,
        labels={
            RUN_LABEL: request.run_id,
            "mleredux.competition_id": request.competition_id,
            RUNNER_LABEL: runner_id,
        },
        cpus=request.cpus,
        memory_bytes=request.memory_bytes,
        pids_limit=request.pids_limit,
        shm_bytes=request.shm_bytes,
        gpus=request.gpus,
        command=list(request.command) or None,
        log_max_bytes=limits.docker_log_max_bytes,
        log_max_files=limits.docker_log_max_files,
    )
