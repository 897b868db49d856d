#!/bin/sh
# validate_submission.sh [FILE] -- ask the grader whether a submission is well-formed (never scores it).
#
# FILE defaults to ${SUBMISSION_DIR:-/home/submission}/submission.csv. The grader listens on the unix
# socket ${MLEREDUX_GRADER_SOCKET:-/run/mleredux/grader.sock} (HTTP POST /validate) and answers
# {"valid": bool, "message": ...}, which is printed to stdout.
# Exit codes: 0 valid, 1 invalid, 2 error (cannot reach the grader, missing file, ...).
# Mounted by the runner at /home/validate_submission.sh in every agent container.

FILE="${1:-${SUBMISSION_DIR:-/home/submission}/submission.csv}"
SOCKET="${MLEREDUX_GRADER_SOCKET:-/run/mleredux/grader.sock}"

if command -v mleredux-validate >/dev/null 2>&1; then
    exec mleredux-validate "$FILE" "$SOCKET"
fi

if command -v python3 >/dev/null 2>&1; then
    exec python3 -c '
import http.client
import os
import socket
import sys

MAX_SIZE = 512 * 1024 * 1024


def fail(msg):
    sys.stderr.write("validate_submission: " + msg + "\n")
    sys.exit(2)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("grader", timeout=600)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


path, sock_path = sys.argv[1], sys.argv[2]
try:
    size = os.stat(path).st_size
    if size > MAX_SIZE:
        fail(path + " is larger than 512 MiB")
    with open(path, "rb") as f:
        body = f.read()
except OSError as e:
    fail("cannot read submission " + path + ": " + e.strerror)
try:
    conn = UnixConnection(sock_path)
    conn.request("POST", "/validate", body=body, headers={
        "Host": "grader", "Content-Type": "text/csv", "Connection": "close"})
    resp = conn.getresponse()
    answer = resp.read()
    conn.close()
except OSError as e:
    fail("cannot reach the grader at " + sock_path + ": " + str(e))
except http.client.HTTPException as e:
    fail("malformed answer from the grader: " + repr(e))
text = answer.decode("utf-8", "replace")
sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
sys.stdout.flush()
if resp.status != 200:
    fail("the grader answered HTTP " + str(resp.status))
compact = text.replace("\"valid\": ", "\"valid\":")
if "\"valid\":true" in compact:
    sys.exit(0)
if "\"valid\":false" in compact:
    sys.exit(1)
fail("the grader answer has no valid field")
' "$FILE" "$SOCKET"
fi

echo "validate_submission: neither mleredux-validate nor python3 is available in this image;" \
    "cannot reach the grader at $SOCKET" >&2
exit 2
