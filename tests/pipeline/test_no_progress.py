"""Runs that cannot progress stop with one line and stay resumable; one writer per run directory;
numbers a run cannot use are refused. Every server here is a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfinstruct.generation import cli
from selfinstruct.generation.lock import LOCK_NAME, DirectoryLock
from doubles.localserver import LocalServer

from .conftest import SECRET, read_jsonl


def _status(out: Path) -> str:
    return json.loads((out / "manifest.json").read_text())["status"]


def test_a_refused_key_stops_at_once_and_resumes_with_the_right_one(tmp_path, generate, capsys, seed_file):
    out = tmp_path / "run"
    with LocalServer(require_api_key="sk-the-right-key") as srv:
        assert generate(out, "--max-retries", "0", base_url=srv.base_url, num=5) == 3
        err = capsys.readouterr().err.strip().splitlines()
        assert len([l for l in err if l.startswith("error:")]) == 1
        assert "HTTP 401" in err[-1] and "--api-key" in err[-1] and "resume" in err[-1]
        assert len(srv.received) <= 16  # one round, not a storm
        assert _status(out) == "stopped_failures"
        assert not (out / "requests.jsonl").exists() or read_jsonl(out / "requests.jsonl") == []
        code = cli.main(["generate", "--out", str(out), "--model", "local-test-model", "--base-url", srv.base_url,
                         "--api-key", "sk-the-right-key", "--seed-tasks", str(seed_file), "--no-progress",
                         "--no-summary", "--num-instructions", "5"])
    assert code == 0 and _status(out) == "complete"


def test_an_unreachable_server_stops_with_the_cause(tmp_path, generate, capsys):
    out = tmp_path / "run"
    t0 = time.monotonic()
    assert generate(out, "--max-retries", "1", base_url="http://127.0.0.1:1/v1", num=5) == 3
    assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err
    assert "cannot reach the server" in err and "--base-url" in err


def test_a_server_that_always_fails_stops_after_the_failure_budget(tmp_path, generate, capsys):
    out = tmp_path / "run"
    with LocalServer(fault_rate=1.0, faults=("500",)) as srv:
        code = generate(out, "--max-retries", "0", "--max-failures", "8", "--concurrency", "4",
                        base_url=srv.base_url, num=5)
        sent = len(srv.received)
    assert code == 3 and 8 <= sent <= 12
    assert "8 requests in a row failed" in capsys.readouterr().err
    assert _status(out) == "stopped_failures"
    assert len(read_jsonl(out / "requests.jsonl")) == sent  # failures that retrying may fix are logged


def test_replies_that_never_pass_the_filters_stop_after_empty_rounds(tmp_path, generate, capsys):
    out = tmp_path / "run"
    with LocalServer(lambda body: "ok") as srv:
        code = generate(out, "--max-empty-rounds", "3", "--concurrency", "4", base_url=srv.base_url, num=5)
        sent = len(srv.received)
    assert code == 3 and sent == 12  # three rounds of four prompts
    assert "3 rounds in a row kept no instruction" in capsys.readouterr().err
    assert _status(out) == "stopped_no_progress"
    assert {r["rule"] for r in read_jsonl(out / "rejected.jsonl")} == {"too_short"}


def test_a_second_run_into_the_same_directory_is_refused(tmp_path, generate, capsys):
    out = tmp_path / "run"
    with DirectoryLock(out):
        assert generate(out, num=5) == 2
    err = capsys.readouterr().err
    assert "another selfinstruct command" in err and str(os.getpid()) in err
    assert not (out / "requests.jsonl").exists()
    assert generate(out, num=5) == 0  # released


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path, generate):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from selfinstruct.generation.lock import DirectoryLock\n"
                               f"with DirectoryLock({str(out)!r}):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert generate(out, num=5) == 2
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (out / LOCK_NAME).exists()
    assert generate(out, num=5) == 0


def test_orphan_temp_files_of_a_killed_writer_are_removed(tmp_path, generate):
    out = tmp_path / "run"
    (out / "finetuning").mkdir(parents=True)
    orphans = [out / ".machine_generated_instructions.jsonl.k3j2.tmp", out / "finetuning" / ".x.jsonl.a1.tmp"]
    for p in orphans:
        p.write_text("half a line")
    assert generate(out, num=5) == 0
    assert not any(p.exists() for p in orphans)


@pytest.mark.parametrize("flags, field", [
    (("--num-instructions", "0"), "--num-instructions"), (("--threshold", "1.5"), "--threshold"),
    (("--max-cost", "-1"), "--max-cost"), (("--concurrency", "0"), "--concurrency"),
    (("--max-failures", "-1"), "--max-failures"),
])
def test_numbers_a_run_cannot_use_are_refused(tmp_path, generate, capsys, flags, field):
    out = tmp_path / "run"
    assert generate(out, *flags, num=None if flags[0] == "--num-instructions" else 5) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {field}: must be") and "\n" not in err
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_one_line(tmp_path, generate, capsys):
    out = tmp_path / "a-file"
    out.write_text("keep me")
    assert generate(out, num=5) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not a directory" in err and "\n" not in err
    assert out.read_text() == "keep me"
    assert SECRET not in err


def test_url_credentials_never_reach_the_run_directory(tmp_path, generate, server):
    out = tmp_path / "run"
    url = server.base_url.replace("http://", "http://someone:URLSECRET@")
    assert generate(out, base_url=url, num=5) == 0
    for p in out.rglob("*"):
        if p.is_file():
            assert "URLSECRET" not in p.read_text("utf-8"), p
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["base_url"] == server.base_url


def test_step_one_counts_add_up(tmp_path, generate):
    out = tmp_path / "run"
    assert generate(out, "--request-max-tokens", "40", num=10) == 0  # short answers: some cut by the limit
    b = json.loads((out / "manifest.json").read_text())["counts"]["bootstrap"]
    assert b["candidates"] == b["kept"] + sum(b["rejected"].values())
