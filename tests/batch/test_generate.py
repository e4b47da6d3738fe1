"""`generate --batch-api` end to end: the same kept sets as a live run, kill -9 while waiting
then resume (the same batches, no request submitted twice), a budget refused before anything is
sent, and `batch status` / `batch cancel`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from doubles.batch_standin import BatchStandin
from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder
from pipeline.conftest import derived_files
from selfinstruct.generation import cli
from selfinstruct.generation.lm.base import LMRequest
from selfinstruct.generation.lm.batch_ledger import Ledger

from .conftest import SECRET, backend, generate_argv, read_jsonl, run_cli

REPO = Path(__file__).resolve().parents[2]


def _live_run(out: Path, seed_file: Path, num: int) -> None:
    with LocalServer(synthetic_responder) as live:
        assert cli.main(generate_argv(out, seed_file, "--base-url", live.base_url, "--api-key", SECRET, num=num)) == 0


def test_batch_run_keeps_what_a_live_run_keeps(tmp_path, standin, seed_file, capsys):
    _live_run(tmp_path / "live", seed_file, 12)
    out = tmp_path / "batch"
    assert run_cli(standin, *generate_argv(out, seed_file, "--batch-api")) == 0
    assert derived_files(out) == derived_files(tmp_path / "live")
    live_log = [{k: v for k, v in r.items() if k != "created_at"} for r in read_jsonl(tmp_path / "live" / "requests.jsonl")]
    batch_log = [{k: v for k, v in r.items() if k != "created_at"} for r in read_jsonl(out / "requests.jsonl")]
    assert batch_log == live_log  # logged exactly as live answers
    ledger = Ledger.open(out)
    rounds = json.loads((out / "manifest.json").read_text())["counts"]["bootstrap"]["rounds"]
    assert len(ledger.of_kind("submitted")) == rounds + 2  # one batch a round, one each for steps 2 and 3
    assert max(standin.submissions.values()) == 1
    for p in out.rglob("*"):
        if p.is_file():
            assert SECRET not in p.read_text("utf-8"), p
    # status: every batch, its state and the cost so far
    capsys.readouterr()
    assert run_cli(standin, "batch", "status", str(out)) == 0
    text = capsys.readouterr().out
    assert all(bid in text for bid in standin.created) and "completed" in text and "spent $" in text
    # a rerun sends nothing
    n = len(standin.created)
    assert run_cli(standin, *generate_argv(out, seed_file, "--batch-api")) == 0
    assert len(standin.created) == n


def test_kill_9_while_waiting_then_resume_polls_the_same_batches(tmp_path, seed_file):
    out = tmp_path / "run"
    with BatchStandin(synthetic_responder, hold=True, require_api_key=SECRET) as srv:
        env = {**os.environ, "SELFINSTRUCT_BATCH_POLL_SECONDS": "0.02", "PYTHONPATH": str(REPO.parent)}
        argv = [sys.executable, "-m", "selfinstruct.generation.cli", *generate_argv(out, seed_file, "--batch-api"),
                "--base-url", srv.base_url, "--api-key", SECRET]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (srv.created and Ledger.open(out, create=False).of_kind("submitted")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the batch never appeared"
            time.sleep(0.05)
        assert srv.statuses() == ["in_progress"]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = Ledger.open(out).of_kind("submitted")[0]["batch_id"]
        srv.release()
        assert run_cli(srv, *generate_argv(out, seed_file, "--batch-api")) == 0
        submitted = Ledger.open(out).of_kind("submitted")
        assert submitted[0]["batch_id"] == first == srv.created[0]
        assert [e["batch_id"] for e in submitted] == srv.created
        assert max(srv.submissions.values()) == 1  # no request submitted twice
        assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_max_cost_refused_before_submitting(tmp_path, standin, seed_file, capsys):
    out = tmp_path / "run"
    argv = generate_argv(out, seed_file, "--batch-api", "--max-cost", "0.00001")
    argv[argv.index("local-test-model")] = "gpt-4o-mini"
    assert run_cli(standin, *argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --max-cost:") and "upper-bound" in err and len(err.splitlines()) == 1
    assert standin.uploads == 0 and not standin.created


def test_cancel_stops_the_batches_in_progress(tmp_path, seed_file, capsys):
    with BatchStandin(synthetic_responder, hold=True, require_api_key=SECRET) as srv:
        lm = backend(srv, tmp_path)
        reqs = [LMRequest(prompt=f"Task {i}:") for i in range(3)]
        worker = threading.Thread(target=lm.generate, args=(reqs,), daemon=True)
        worker.start()
        deadline = time.monotonic() + 60
        while not Ledger.open(tmp_path, create=False).of_kind("submitted"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        capsys.readouterr()
        assert run_cli(srv, "batch", "cancel", str(tmp_path)) == 0
        assert f"cancelled {srv.created[0]}" in capsys.readouterr().out
        assert srv.batches[srv.created[0]]["status"] == "cancelled"
        srv.release()
        worker.join(60)
        assert not worker.is_alive()
        lm.close()
