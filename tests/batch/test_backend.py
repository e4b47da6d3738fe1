"""BatchAPIBackend against the stand-in: answers as live ones, the ledger before any wait,
failed and expired items resubmitted once, and the same batches polled by a second backend."""
from __future__ import annotations

import pytest

from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import dumps_bytes
from selfinstruct.generation.lm.base import LMRequest, SamplingParams
from selfinstruct.generation.lm.batch_files import custom_ids, split_lines
from selfinstruct.generation.lm.batch_ledger import Ledger
from selfinstruct.generation.lm.openai_backend import OpenAICompatibleBackend

from .conftest import SECRET, backend

PARAMS = SamplingParams(max_tokens=40, temperature=0.0, stop=("\n\n",))


def _requests(k: int = 6) -> list[LMRequest]:
    chat = [LMRequest(messages=({"role": "user", "content": f"Task {i}: write a list"},), params=PARAMS)
            for i in range(2)]
    return [LMRequest(prompt=f"Come up with a task number {i}:\n1.", params=PARAMS) for i in range(k)] + chat


def _live(reqs):
    with LocalServer(synthetic_responder) as srv:
        lm = OpenAICompatibleBackend("local-test-model", base_url=srv.base_url, api_key="x")
        try:
            return lm.generate(reqs)
        finally:
            lm.close()


def test_answers_match_live_and_the_ledger_names_every_batch(standin, tmp_path):
    reqs = _requests()
    lm = backend(standin, tmp_path)
    got = lm.generate(reqs)
    live = _live(reqs)
    assert [r.text for r in got] == [r.text for r in live] and all(r.ok for r in got)
    assert [r.usage for r in got] == [r.usage for r in live]
    ledger = Ledger.open(tmp_path)
    submitted = ledger.of_kind("submitted")
    assert sorted(e["batch_id"] for e in submitted) == sorted(standin.created)
    assert {e["endpoint"] for e in submitted} == {"/v1/completions", "/v1/chat/completions"}
    assert len(ledger.of_kind("done")) == 2 and max(standin.submissions.values()) == 1
    # a second backend on the same folder polls the same batches and submits nothing
    again = backend(standin, tmp_path).generate(reqs)
    assert [r.text for r in again] == [r.text for r in got] and len(standin.created) == 2


def _ids(lm, reqs):
    return custom_ids(lm.ledger.tag, [dumps_bytes(lm._line(r)[1]) for r in reqs])


def test_failed_items_are_resubmitted_once(standin, tmp_path):
    reqs = _requests(4)
    lm = backend(standin, tmp_path)
    ids = _ids(lm, reqs)
    standin.fail_ids(lambda cid: cid in (ids[0], ids[-1]))  # one completions item, one chat item
    got = lm.generate(reqs)
    assert all(r.ok for r in got) and lm.stats["resubmitted"] == 2
    assert standin.submissions[ids[0]] == standin.submissions[ids[-1]] == 2
    assert max(standin.submissions[c] for c in ids[1:-1]) == 1


def test_items_failing_twice_come_back_as_failures(standin, tmp_path):
    reqs = _requests(3)[:3]  # one endpoint: one batch, then its resubmission
    standin.expire_next(2)
    got = backend(standin, tmp_path).generate(reqs)
    assert all(not r.ok and "batch_expired" in r.error for r in got)
    assert max(standin.submissions.values()) == 2  # once, then once more, never a third time


def test_failed_items_sent_live_with_the_flag(standin, tmp_path):
    reqs = _requests(3)[:3]
    standin.expire_next(1)
    lm = backend(standin, tmp_path, batch_failed="live")
    got = lm.generate(reqs)
    assert all(r.ok for r in got) and lm.stats["sent_live"] == len(reqs)
    assert max(standin.submissions.values()) == 1
    assert sum(1 for a in standin.arrivals if a.path.endswith("completions")) == len(reqs)


def test_max_cost_refused_before_anything_is_uploaded(standin, tmp_path):
    lm = backend(standin, tmp_path, model="gpt-4o-mini", batch_max_cost=1e-6)
    with pytest.raises(InputError, match="upper-bound"):
        lm.generate(_requests())
    assert standin.uploads == 0 and not standin.created


def test_an_upload_without_a_recorded_batch_is_adopted(standin, tmp_path):
    """A kill between creating the batch and recording it: the rerun finds the batch by its file."""
    reqs = _requests(2)[:2]
    lm = backend(standin, tmp_path)
    lm._record_submitted = lambda uploaded, batch_id: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        lm.generate(reqs)
    assert len(standin.created) == 1
    got = backend(standin, tmp_path).generate(reqs)
    assert all(r.ok for r in got) and len(standin.created) == 1 and max(standin.submissions.values()) == 1


def test_files_split_at_the_limits():
    lines = [b"x" * 10 + b"\n"] * 7
    assert split_lines(lines, max_requests=3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert split_lines(lines, max_bytes=25) == [[0, 1], [2, 3], [4, 5], [6]]
    with pytest.raises(InputError):
        split_lines([b"y" * 30], max_bytes=25)


def test_split_batches_are_all_polled(standin, tmp_path):
    reqs = _requests(5)[:5]
    lm = backend(standin, tmp_path)
    lm.max_requests = 2
    got = lm.generate(reqs)
    assert len(standin.created) == 3 and [r.text for r in got] == [r.text for r in _live(reqs)]


def test_no_key_in_the_ledger(standin, tmp_path):
    backend(standin, tmp_path).generate(_requests(2))
    assert SECRET not in (tmp_path / "batches.jsonl").read_text()


def test_max_cost_counts_batches_another_backend_of_the_folder_sent(standin, tmp_path):
    """Two judge models of one command share the ledger: the second's budget check sees the
    first's spend, although its own copy of the ledger predates it."""
    second = backend(standin, tmp_path, model="gpt-4o-mini", batch_max_cost=1e-9)
    first = backend(standin, tmp_path, model="gpt-4o-mini")
    first.generate(_requests())
    assert Ledger.open(tmp_path).spent_usd() > 1e-9
    with pytest.raises(InputError, match="already in batches"):
        second.check_cost(0.0)
