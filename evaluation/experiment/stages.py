"""Stages: each one command of the real CLI (or one small step of our own), skipped when done.

A stage's hash covers its command line (secrets left out), the content of the files it reads
and the hashes of the stages it builds on, so changing a flag, the data or an upstream stage
reruns that stage and everything after it, and nothing else. `stage.json` records the hash and
the status: `complete` with the same hash means skip; `running` with the same hash means a
killed stage, rerun into the same folder so the command resumes its own work; a different hash
means stale outputs, cleared before the stage runs again.

Stages run as subprocesses of the `selfinstruct` command, not in-process: the experiment then
does exactly what a person typing the commands would, and the evaluation layer never imports
the generation pipeline.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from selfinstruct.generation.errors import RunStopped
from selfinstruct.generation.jsonl import write_json
from selfinstruct.generation.lock import LOCK_NAME
from selfinstruct.generation.rundir import read_manifest

STAGE_FILE = "stage.json"
ENTRY = "import sys; from selfinstruct.generation.cli import main; sys.exit(main())"


def cli_argv(args: Sequence[str]) -> list[str]:
    """The `selfinstruct` command as this interpreter runs it (the package has no __main__)."""
    return [sys.executable, "-c", ENTRY, *args]


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The value after any `--...api-key` flag replaced, for hashes and records."""
    out, hide = [], False
    for a in argv:
        out.append("***" if hide else a)
        hide = a.startswith("--") and a.endswith("api-key")
    return out


def content_hash(paths: Iterable[Path]) -> str:
    """sha256 over the files under `paths` (relative names and bytes); locks and temp files
    left out, since they say nothing about the content."""
    h = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            if f.name == LOCK_NAME or f.name.startswith(".") and f.name.endswith((".tmp", ".lock")):
                continue
            h.update(str(f.relative_to(root) if root.is_dir() else f.name).encode() + b"\0")
            if f.exists():
                with f.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            h.update(b"\0")
    return h.hexdigest()


@dataclass
class Stage:
    name: str
    args: list[str]  # `selfinstruct` arguments, or a description of `action`
    inputs: list[Path] = field(default_factory=list)  # files/folders read (hashed by content)
    after: list[str] = field(default_factory=list)  # stages whose outputs it reads
    action: Callable[[Path], None] | None = None  # a step of our own instead of a command


def stage_hashes(stages: Sequence[Stage]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for s in stages:
        body = {"name": s.name, "args": redact_argv(s.args), "inputs": {str(p): content_hash([p]) for p in s.inputs},
                "after": {a: hashes[a] for a in s.after}}
        hashes[s.name] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return hashes


def read_stage(folder: Path) -> dict | None:
    return read_manifest(folder / STAGE_FILE)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _clear(folder: Path) -> None:
    for p in folder.iterdir():
        if p.name != STAGE_FILE:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


@dataclass
class StageOutcome:
    name: str
    status: str  # skipped | complete | failed
    seconds: float | None


def run_stages(stages: Sequence[Stage], root: Path, *, on_start: Callable[[Stage, int], None] | None = None,
               runner: Callable[[list[str], Path], int] | None = None) -> list[StageOutcome]:
    """Run what is not done, in order; stop at the first failure with a RunStopped."""
    run = runner or _subprocess
    hashes = stage_hashes(stages)
    outcomes = []
    for n, stage in enumerate(stages):
        folder = root / "stages" / stage.name
        folder.mkdir(parents=True, exist_ok=True)
        old = read_stage(folder) or {}
        if old.get("hash") == hashes[stage.name] and old.get("status") == "complete":
            outcomes.append(StageOutcome(stage.name, "skipped", old.get("seconds")))
            continue
        if old.get("hash") != hashes[stage.name]:
            _clear(folder)
        if on_start:
            on_start(stage, n)
        record = {"name": stage.name, "hash": hashes[stage.name], "status": "running", "args": redact_argv(stage.args),
                  "after": stage.after, "started_at": _now()}
        write_json(folder / STAGE_FILE, record)
        start = time.monotonic()
        if stage.action is not None:
            stage.action(folder)
            code = 0
        else:
            code = run(cli_argv(stage.args), root)
        seconds = round(time.monotonic() - start, 1)
        record.update(status="complete" if code == 0 else "failed", exit_code=code, seconds=seconds,
                      finished_at=_now())
        write_json(folder / STAGE_FILE, record)
        if code != 0:
            raise RunStopped(f"stage {stage.name} failed (exit code {code}); fix the cause and rerun the same "
                             "command: finished stages are skipped and this one resumes")
        outcomes.append(StageOutcome(stage.name, "complete", seconds))
    return outcomes


def _subprocess(argv: list[str], cwd: Path) -> int:
    return subprocess.run(argv, cwd=cwd).returncode


def check_commands(stages: Sequence[Stage]) -> dict[str, str]:
    """Each stage's command line parsed by the real `selfinstruct` parser in a child process,
    before anything runs: a misspelt flag fails now, not after the stages before it."""
    code = ("import contextlib, io, json, sys\n"
            "from selfinstruct.generation.cli import build_parser\n"
            "bad = {}\n"
            "for name, args in json.load(sys.stdin):\n"
            "    err = io.StringIO()\n"
            "    try:\n"
            "        with contextlib.redirect_stderr(err):\n"
            "            build_parser().parse_args(args)\n"
            "    except SystemExit:\n"
            "        bad[name] = (err.getvalue().strip().splitlines() or ['invalid'])[-1]\n"
            "print(json.dumps(bad))\n")
    todo = [[s.name, s.args] for s in stages if s.action is None]
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(todo), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"could not check the stage commands: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)
