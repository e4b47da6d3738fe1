"""The evaluation commands with --batch-api, end to end through the CLI: the rows a live run
writes, one batch per step however the command chunks a live run, half the live cost in the
manifest, and a rerun that submits nothing."""
from __future__ import annotations

import pytest

from data_quality.conftest import _make_run
from doubles.batch_standin import BatchStandin
from selfinstruct.generation.lm.batch_ledger import Ledger
from user_oriented.conftest import make_predictions, uo_tasks  # noqa: F401

from . import evaluations as ev
from .conftest import SECRET


@pytest.fixture
def standin():
    with BatchStandin(ev.responder, require_api_key=SECRET) as srv:
        yield srv


@pytest.fixture
def commands(tmp_path, request, user_oriented_file, make_predictions):  # noqa: F811
    """name -> (live command, batch command), the same but for their output paths."""
    def both(make):
        return make(tmp_path / "live"), make(tmp_path / "batch")

    preds = make_predictions("m1", 4, response=lambda i, t: f"answer {i}: " + "word " * (i + 1))
    table = {
        "user-generate": lambda: both(lambda d: ev.user_generate(d / "preds.jsonl", user_oriented_file)),
        "user-judge": lambda: both(lambda d: ev.user_judge(d / "ratings.jsonl", user_oriented_file, preds)),
        "data-quality": lambda: both(lambda d: ev.data_quality(d / "dq", _make_run(tmp_path / "run", n=6))),
        "superni": lambda: both(lambda d: ev.superni(d / "superni", request.getfixturevalue("shared_dir")
                                                     / "upstream" / "superni")),
    }
    return lambda name: table[name]()


@pytest.mark.parametrize("name", ["superni", "user-generate", "user-judge", "data-quality"])
def test_batch_run_writes_what_a_live_run_writes_in_one_batch(name, commands, standin):
    live, batch = commands(name)
    assert live.live() == 0
    assert batch.run(standin.base_url, "--batch-api") == 0
    assert batch.rows() == live.rows() and batch.rows()
    assert len(standin.created) == 1, f"{name}: one step, one batch"
    assert [e["batch_id"] for e in Ledger.open(batch.ledger_dir).of_kind("submitted")] == standin.created
    # the manifest records what was spent, at batch prices: half the live price of the same tokens
    assert live.cost() > 0 and batch.cost() == pytest.approx(live.cost() / 2)
    # a rerun finds everything done and submits nothing
    assert batch.run(standin.base_url, "--batch-api") == 0
    assert len(standin.created) == 1 and max(standin.submissions.values()) == 1
    assert batch.rows() == live.rows()


def test_items_sent_live_are_costed_at_live_prices(commands, standin):
    """--batch-failed live after the batch expired: every item answered live, at the live price."""
    live, batch = commands("user-generate")
    assert live.live() == 0
    standin.expire_next(1)
    assert batch.run(standin.base_url, "--batch-api", "--batch-failed", "live") == 0
    assert batch.rows() == live.rows()
    assert len(standin.created) == 1 and batch.cost() == pytest.approx(live.cost())
