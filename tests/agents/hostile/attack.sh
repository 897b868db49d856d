#!/bin/sh
# A hostile agent (busybox sh, on the dummy agent's rootfs): each word of $ATTACK is one attack on the
# runner; whatever it tries, it then leaves a valid submission and exits 0, so a run that ends any
# other way was ended by the service, not by the agent.

SUB=/home/submission
CODE=/home/code
LOGS=/home/logs
ROLLOUT="$LOGS/rollout.jsonl"

for attack in ${ATTACK:-}; do
    echo "attack: $attack"
    case "$attack" in
    validate-first)
        # Calls the grader socket before anything else: its event must still follow RUNNING.
        sh /home/validate_submission.sh /home/data/sample_submission.csv >/dev/null 2>&1
        ;;
    rollout)
        # Lines that once killed the rollout reader, then more valid lines than the cap allows.
        printf '%s\n' '{"step": Infinity}' '{"step": 1e400}' '{"step": NaN, "kind": "x"}' >>"$ROLLOUT"
        printf '{"payload": {"v": 1e999}}\n' >>"$ROLLOUT"
        head -c 100000 /dev/zero | tr '\0' '[' >>"$ROLLOUT"
        printf '\n' >>"$ROLLOUT"
        head -c 300000 /dev/zero | tr '\0' '{' >>"$ROLLOUT"
        printf '\n\377\376 not utf-8\n' >>"$ROLLOUT"
        seq 1 "${ROLLOUT_LINES:-500}" | sed 's/.*/{"step": &, "kind": "flood"}/' >>"$ROLLOUT"
        ;;
    names)
        # File names no store or URL likes, and a tree deeper than PATH_MAX.
        printf 'x' >"$CODE/$(printf 'bad\377\376name.py')"
        printf 'x' >"$CODE/$(printf 'new\nline.py')"
        printf 'x' >"$CODE/$(printf 'esc\033[31mred')"
        printf 'x' >"$CODE/ok.py"
        (
            cd "$CODE" || exit 1
            long=$(head -c 200 /dev/zero | tr '\0' 'd')
            i=0
            while [ "$i" -lt 25 ]; do
                mkdir "$long" && cd "$long" || break
                i=$((i + 1))
            done
            echo deep >leaf.txt
        )
        i=0
        while [ "$i" -lt "${NAME_FILES:-300}" ]; do
            : >"$LOGS/many-$i"
            i=$((i + 1))
        done
        ;;
    output)
        # More lines than the run may record, and one very long line without a newline.
        seq 1 "${OUTPUT_LINES:-300000}"
        head -c 2000000 /dev/zero | tr '\0' 'y'
        echo
        ;;
    disk)
        # Each writable dir filled past the run's disk: every one must answer ENOSPC. The submission
        # is written first, and the last fill is left in place (the run ends with its disk full).
        cp /home/data/sample_submission.csv "$SUB/submission.csv"
        for dir in "$SUB" "$CODE" "$LOGS" /tmp; do
            if dd if=/dev/zero of="$dir/fill" bs=1M count="${DISK_MB:-100000}" 2>"/tmp/dd.err" ||
                grep -q "No space left" /tmp/dd.err; then
                :
            fi
            if grep -q "No space left" /tmp/dd.err; then
                echo "disk: ENOSPC in $dir after $(du -k "$dir/fill" | cut -f1) KiB"
            else
                echo "disk: NO ENOSPC in $dir: $(cat /tmp/dd.err)"
            fi
            rm -f /tmp/dd.err
            [ "$dir" = /tmp ] || rm -f "$dir/fill"
        done
        ;;
    *)
        echo "attack: unknown $attack" >&2
        ;;
    esac
done

[ -e "$SUB/submission.csv" ] || cp /home/data/sample_submission.csv "$SUB/submission.csv"
echo "hostile agent: done"
exit 0
