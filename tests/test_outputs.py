"""Every command's output: one writer at a time, and a bad output path is one line, exit 2.

Each command locks what it writes for its whole run (a file: a lock file beside it; a run
directory: one inside), so a second run into the same output is refused before it reads or
sends anything, and the output stays as it was. The lock is a flock: a killed holder leaves it
free. The commands run through the real entry point; nothing here needs a model or a network,
because the output is checked before either is touched.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct.generation.cli import main
from selfinstruct.generation.lock import DirectoryLock, PathLock, sidecar_lock_path

NOWHERE = "http://127.0.0.1:9/v1"  # never contacted: the output is refused first


def _argv(name: str, out: Path, tmp: Path) -> list[str]:
    inp = str(tmp / "input.jsonl")
    tf = ["--tasks-file", inp]
    return {
        "filter": ["filter", inp, "--out", str(out)],
        "superni score": ["evaluate", "superni", "score", "--predictions", inp, "--references", inp, "--out", str(out)],
        "user-oriented generate": ["evaluate", "user-oriented", "generate", "--model", "m", "--base-url", NOWHERE,
                                   "--out", str(out), *tf],
        "user-oriented judge": ["evaluate", "user-oriented", "judge", "--predictions", inp, "--judge-model", "j",
                                "--judge-base-url", NOWHERE, "--out", str(out), *tf],
        "user-oriented sheet": ["evaluate", "user-oriented", "sheet", "--predictions", inp, "--out", str(out), *tf],
        "user-oriented import-ratings": ["evaluate", "user-oriented", "import-ratings", inp, "--out", str(out), *tf],
        "generate": ["generate", "--out", str(out), "--num-instructions", "5", "--base-url", NOWHERE, "--model", "m"],
        "superni run": ["evaluate", "superni", "run", "--out", str(out), "--data-dir", str(tmp / "ni"),
                        "--model", "m", "--base-url", NOWHERE],
        "user-oriented report": ["evaluate", "user-oriented", "report", "--ratings", inp, "--out", str(out), *tf],
        "dataset build": ["dataset", "build", str(tmp / "run"), "--out", str(out)],
        "finetune": ["finetune", "--data", str(tmp / "run"), "--out", str(out)],
    }[name]


FILE_OUTPUTS = ["filter", "superni score", "user-oriented generate", "user-oriented judge", "user-oriented sheet",
                "user-oriented import-ratings"]
RUN_DIRS = ["generate", "superni run"]  # written in place: the lock is inside
FOLDERS = ["dataset build", "finetune", "user-oriented report"]  # the lock is beside: a refused run leaves no folder
ALL = FILE_OUTPUTS + RUN_DIRS + FOLDERS


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def _existing_output(name: str, tmp: Path) -> Path:
    out = tmp / "out"
    if name in FILE_OUTPUTS:
        out.write_text("earlier output\n")
    else:
        out.mkdir()
        (out / "earlier.txt").write_text("earlier output\n")
    return out


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != ".selfinstruct.lock"}


def _lock(name: str, out: Path):
    if name in RUN_DIRS:
        return DirectoryLock(out)
    return PathLock(out, directory=name in FOLDERS)


@pytest.mark.parametrize("name", ALL)
def test_a_second_run_into_the_same_output_is_refused(tmp_path, capsys, name):
    out = _existing_output(name, tmp_path)
    before = _snapshot(out)
    with _lock(name, out):
        assert main(_argv(name, out, tmp_path)) == 2
    _one_line_error(capsys, "another selfinstruct command", f"pid {os.getpid()}", "--out")
    assert _snapshot(out) == before


@pytest.mark.parametrize("name", ALL)
def test_an_output_of_the_wrong_kind_is_one_line(tmp_path, capsys, name):
    if name in FILE_OUTPUTS:
        out = tmp_path / "a_dir"
        out.mkdir()
        expected = "is a directory"
    else:
        out = tmp_path / "a_file"
        out.write_text("x")
        expected = "not a directory"
    assert main(_argv(name, out, tmp_path)) == 2
    _one_line_error(capsys, expected, "--out", str(out))


@pytest.mark.parametrize("name", ALL)
def test_an_output_under_a_file_is_one_line(tmp_path, capsys, name):
    (tmp_path / "plain").write_text("x")
    out = tmp_path / "plain" / "sub" / "out"
    assert main(_argv(name, out, tmp_path)) == 2
    _one_line_error(capsys, "not a directory", "--out")
    assert (tmp_path / "plain").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("name", ALL)
def test_an_output_in_a_read_only_folder_is_one_line(tmp_path, capsys, name):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(_argv(name, ro / "out", tmp_path)) == 2
    finally:
        ro.chmod(0o755)
    _one_line_error(capsys, "cannot write here", "--out")


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path, capsys):
    inp = tmp_path / "input.jsonl"
    inp.write_text('{"instruction": "Write a poem about the sea at night."}\n')
    out = tmp_path / "kept.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from selfinstruct.generation.lock import PathLock\n"
                               f"with PathLock({str(out)!r}):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["filter", str(inp), "--out", str(out), "--no-progress"]) == 2
        _one_line_error(capsys, "another selfinstruct command", "--out")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert sidecar_lock_path(out).exists()
    assert main(["filter", str(inp), "--out", str(out), "--no-progress"]) == 0
    assert "poem" in out.read_text()
