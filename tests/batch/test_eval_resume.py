"""An evaluation killed with -9 while its batch is in progress resumes by polling that batch, and
items a batch failed and sent live are priced live, also per result (the request log's cost)."""
from __future__ import annotations

import os
import signal

import pytest

from doubles.batch_standin import BatchStandin
from selfinstruct.generation.lm.base import LMRequest, SamplingParams, Usage
from selfinstruct.generation.lm.batch_ledger import Ledger

from . import evaluations as ev
from .conftest import SECRET, backend
from .test_backend import _ids


def test_kill_9_while_an_evaluation_waits_then_resume(tmp_path, user_oriented_file):
    live = ev.user_generate(tmp_path / "live" / "preds.jsonl", user_oriented_file)
    assert live.live() == 0
    cmd = ev.user_generate(tmp_path / "batch" / "preds.jsonl", user_oriented_file)
    ledger_dir = cmd.ledger_dir
    with BatchStandin(ev.responder, hold=True, require_api_key=SECRET) as srv:
        proc = cmd.spawn(srv.base_url, "--batch-api")
        ev.wait_for(proc, lambda: bool(Ledger.open(ledger_dir, create=False).of_kind("submitted")))
        assert srv.statuses() == ["in_progress"]
        os.kill(proc.pid, signal.SIGKILL)  # while it polls the batch
        proc.wait()
        assert not cmd.rows_file.exists() or cmd.rows() == []  # nothing answered before the kill
        srv.release()
        assert cmd.run(srv.base_url, "--batch-api") == 0
        assert [e["batch_id"] for e in Ledger.open(ledger_dir).of_kind("submitted")] == srv.created
        assert len(srv.created) == 1 and max(srv.submissions.values()) == 1  # polled, not resubmitted
    assert cmd.rows() == live.rows()
    assert cmd.cost() == pytest.approx(live.cost() / 2)


def test_live_resends_are_priced_live_and_batch_items_at_batch_prices(tmp_path):
    params = SamplingParams(max_tokens=30, temperature=0.0)
    reqs = [LMRequest(prompt=f"Come up with task {i}:\n1.", params=params) for i in range(4)]
    with BatchStandin(ev.responder, require_api_key=SECRET) as srv:
        lm = backend(srv, tmp_path, model=ev.MODEL, batch_failed="live")
        ids = _ids(lm, reqs)
        srv.fail_ids(lambda cid: cid in ids[:2])
        got = lm.generate(reqs)
        lm.close()
    assert all(r.ok for r in got) and lm.stats["sent_live"] == 2
    table = lm.price_table
    live_usage, batch_usage = Usage(), Usage()
    for r in got[:2]:
        live_usage += r.usage
    for r in got[2:]:
        batch_usage += r.usage
    assert live_usage.total_tokens and batch_usage.total_tokens
    expected = table.cost(ev.MODEL, live_usage) + table.cost(ev.MODEL, batch_usage, batch=True)
    assert lm.cost_usd == pytest.approx(expected)
    # per result, as the request log records it
    assert [lm.cost_of(r.usage) for r in got] == pytest.approx(
        [table.cost(ev.MODEL, r.usage, batch=i >= 2) for i, r in enumerate(got)])
    # the ledger (rounded to millionths of a dollar) holds the batches alone
    assert Ledger.open(tmp_path).spent_usd() == pytest.approx(table.cost(ev.MODEL, batch_usage, batch=True), abs=1e-6)
