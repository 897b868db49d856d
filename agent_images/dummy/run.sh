#!/bin/sh
# The dummy agent: checks its sandbox, then submits the sample submission. Runs under busybox sh.

SUBMISSION_DIR="${SUBMISSION_DIR:-/home/submission}"
CODE_DIR="${CODE_DIR:-/home/code}"
LOGS_DIR="${LOGS_DIR:-/home/logs}"
DATA_DIR=/home/data

echo "dummy-agent stdout: started as $(id 2>/dev/null), competition ${COMPETITION_ID:-unknown}"
echo "dummy-agent stderr: started" >&2

# shellcheck disable=SC2046  # word splitting is the point: one space between names
echo "interfaces:" $(ls /sys/class/net 2>/dev/null)

found=""
for p in /home/data/../private/test.csv /home/private /private /home/data/private; do
    if [ -e "$p" ]; then
        found="$p"
        break
    fi
done
if [ -n "$found" ]; then
    echo "answers: PRESENT $found"
else
    echo "answers: absent"
fi

probe="$DATA_DIR/.dummy-agent-write-probe"
if (: >"$probe") 2>/dev/null; then
    rm -f "$probe" 2>/dev/null
    echo "data-write: allowed"
else
    echo "data-write: refused"
fi

if [ -d /home/hints ]; then
    # shellcheck disable=SC2046  # one space between names
    echo "hints:" $(ls /home/hints 2>/dev/null)
    if grep -q /home/hints /home/instructions.txt 2>/dev/null; then
        echo "hints: named in the instructions"
    fi
    if (: >/home/hints/.dummy-agent-write-probe) 2>/dev/null; then
        echo "hints-write: allowed"
    else
        echo "hints-write: refused"
    fi
fi

if [ -n "${DUMMY_LIMITS:-}" ]; then
    # What the kernel enforces on this container, read from inside (cgroup v1 or v2).
    cg=/sys/fs/cgroup
    if [ -e "$cg/memory.max" ]; then
        memory=$(cat "$cg/memory.max")
        cpu=$(tr ' ' / <"$cg/cpu.max")
        pids=$(cat "$cg/pids.max")
    else
        memory=$(cat "$cg/memory/memory.limit_in_bytes")
        cpu="$(cat "$cg/cpu/cpu.cfs_quota_us")/$(cat "$cg/cpu/cpu.cfs_period_us")"
        pids=$(cat "$cg/pids/pids.max")
    fi
    shm=$(df -k /dev/shm | awk 'NR == 2 { print $2 }')
    echo "limits: memory=$memory cpu=$cpu pids=$pids shm-kb=$shm"
fi

if [ -n "${DUMMY_ALLOCATE_MB:-}" ]; then
    # dd holds one block of bs bytes: reading /dev/zero into it touches every page of it.
    echo "allocating ${DUMMY_ALLOCATE_MB} MiB"
    dd if=/dev/zero of=/dev/null bs="${DUMMY_ALLOCATE_MB}M" count=1 2>/dev/null || exit $?
    echo "allocated ${DUMMY_ALLOCATE_MB} MiB"
fi

if [ -n "${DUMMY_SKIP_SUBMISSION:-}" ]; then
    # Lets tests see a run without a submission.
    echo "submission: skipped"
else
    echo "submission: copying $DATA_DIR/sample_submission.csv to $SUBMISSION_DIR/submission.csv"
    if ! cp "$DATA_DIR/sample_submission.csv" "$SUBMISSION_DIR/submission.csv"; then
        echo "dummy-agent stderr: could not write $SUBMISSION_DIR/submission.csv" >&2
    fi
fi

echo "code: writing $CODE_DIR/solution.sh"
if ! printf '#!/bin/sh\n# The dummy agent'"'"'s whole solution.\ncp /home/data/sample_submission.csv "${SUBMISSION_DIR:-/home/submission}/submission.csv"\n' \
    >"$CODE_DIR/solution.sh"; then
    echo "dummy-agent stderr: could not write $CODE_DIR/solution.sh" >&2
fi

echo "rollout: appending one event to $LOGS_DIR/rollout.jsonl"
if ! printf '%s\n' '{"step": 1, "kind": "plan", "payload": {"text": "copy the sample submission"}}' \
    >>"$LOGS_DIR/rollout.jsonl"; then
    echo "dummy-agent stderr: could not write $LOGS_DIR/rollout.jsonl" >&2
fi

if [ -n "${DUMMY_ARTIFACTS:-}" ]; then
    # What a real agent leaves for the viewer to show: a figure, code, a long log, a CSV, typed rollout
    # events, and hostile files (script in an SVG and an HTML page, markup in a payload) it must show inert.
    echo "artifacts: writing a figure, code, a log and hostile files"
    echo 'iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAAWElEQVR42mP8//8/w2ACTAyDDIw6iBBgQeboxHWTqv/KotLRKBt10KiDRh006iD6ldSUg6sbLEjVoh1wYjTKRh006qBRB406aNRBow4aSQ5iHB1sGGoOAgAwCAw9aBTYaAAAAABJRU5ErkJggg==' \
        | base64 -d >"$LOGS_DIR/plot.png"
    cat >"$CODE_DIR/train.py" <<'PY'
"""The dummy agent's pretend training script (it never runs)."""

import pandas as pd


def main() -> None:
    sample = pd.read_csv("/home/data/sample_submission.csv")
    sample.to_csv("/home/submission/submission.csv", index=False)


if __name__ == "__main__":
    main()
PY
    seq 1 3000 | sed 's/^/step /' >"$LOGS_DIR/train.log"
    printf 'epoch,loss\n1,0.9\n2,0.5\n3,0.25\n' >"$LOGS_DIR/metrics.csv"
    printf '%s\n' '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" onload="top.document.title=String.fromCharCode(112,119,110,101,100)">' \
        '<script>top.document.title = "pwned"; top.pwned = true;</script>' \
        '<rect width="40" height="20" fill="#b87333"/></svg>' >"$LOGS_DIR/hostile.svg"
    printf '%s\n' '<!doctype html><title>hostile</title><script>document.title = "pwned";' \
        'fetch("/v1/caller").then(r => r.text()).then(t => { window.stolen = t; });</script>' >"$LOGS_DIR/hostile.html"
    {
        printf '%s\n' '{"step": 2, "kind": "code", "payload": {"language": "python", "file": "train.py", "text": "import pandas as pd\nsample = pd.read_csv(\"/home/data/sample_submission.csv\")\nsample.to_csv(\"/home/submission/submission.csv\", index=False)\n"}}'
        printf '%s\n' '{"step": 3, "kind": "result", "payload": {"text": "wrote the submission <img src=x onerror=\"top.pwned=true\">", "rows": 3}}'
        printf '%s\n' '{"step": 4, "kind": "metric", "payload": {"name": "accuracy", "value": 0.5, "lower_is_better": false}}'
    } >>"$LOGS_DIR/rollout.jsonl"
fi

if [ -e /home/validate_submission.sh ] && [ -z "${DUMMY_SKIP_SUBMISSION:-}" ]; then
    out=$(sh /home/validate_submission.sh "$SUBMISSION_DIR/submission.csv")
    rc=$?
    echo "validation: $out"
    echo "validation-exit: $rc"
else
    echo "validation: unavailable"
fi

if [ -n "${DUMMY_TICKS:-}" ]; then
    # Numbered output over time on both streams and in the rollout (tests follow it across restarts).
    i=1
    while [ "$i" -le "$DUMMY_TICKS" ]; do
        echo "tick $i"
        [ $((i % 5)) -ne 0 ] || echo "tick-err $i" >&2
        [ $((i % 10)) -ne 0 ] || printf '{"step": %d, "kind": "tick", "payload": {"i": %d}}\n' "$i" "$i" \
            >>"$LOGS_DIR/rollout.jsonl"
        sleep "${DUMMY_TICK_SECONDS:-0.02}"
        i=$((i + 1))
    done
fi

if [ -n "${DUMMY_LINES:-}" ]; then
    # As many lines as fast as the container can print them (throughput benchmark).
    seq 1 "$DUMMY_LINES"
fi

if [ -n "${DUMMY_SLEEP:-}" ]; then
    # Lets tests hold a run in RUNNING (cancel, time limit).
    echo "sleeping ${DUMMY_SLEEP}s"
    sleep "$DUMMY_SLEEP"
fi
if [ -n "${DUMMY_EXIT:-}" ]; then
    echo "dummy-agent stdout: exiting with ${DUMMY_EXIT}"
    exit "$DUMMY_EXIT"
fi

echo "dummy-agent stdout: done"
exit 0
