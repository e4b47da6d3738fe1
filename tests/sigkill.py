"""Killing a command with SIGKILL at random moments once it has logged something new: the
harness the resume tests share."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def kill_repeatedly(cmd: Sequence[str], log: Path, *, tries: int, rng: random.Random, max_pause: float,
                    after_kill: Callable[[], None] | None = None) -> int:
    """Start `cmd` up to `tries` times; each time wait until `log` grows (the run made progress),
    then SIGKILL it after a random pause. Returns the number of kills that landed; stops early
    when a run finishes on its own (which must then have exited 0)."""
    kills = 0
    for _ in range(tries):
        before = size(log)
        proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while proc.poll() is None and size(log) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, max_pause))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        if after_kill is not None:
            after_kill()
    return kills
