"""The hostile agent image: the dummy agent's busybox rootfs with tests/agents/hostile/attack.sh as its
command, made with `docker create` / `docker cp` / `docker commit` (no build context, no pull)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ATTACK_SCRIPT = Path(__file__).resolve().parent / "agents" / "hostile" / "attack.sh"


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=120).stdout.strip()


def build_hostile_image(dummy_image: str) -> str:
    """Content-tagged over the dummy image and the script: an unchanged pair is never rebuilt."""
    digest = hashlib.sha256(dummy_image.encode() + b"\0" + ATTACK_SCRIPT.read_bytes()).hexdigest()[:12]
    tag = f"mleredux-test-hostile:{digest}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    container = _docker("create", "--network", "none", dummy_image)
    try:
        _docker("cp", str(ATTACK_SCRIPT), f"{container}:/agent/attack.sh")
        _docker(
            "commit",
            "--change",
            'CMD ["/bin/sh","/agent/attack.sh"]',
            "--change",
            "LABEL mleredux.agent=hostile-test",
            container,
            tag,
        )
    finally:
        _docker("rm", "-f", container)
    return tag
