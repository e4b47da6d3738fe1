"""Upstream's tie order: our re-enactment of numpy < 1.25's argsort against outputs recorded from
numpy 1.24.4 itself (`record_legacy_argsort.py`), whatever numpy runs the tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfinstruct.generation.similarity import argsort_legacy
from selfinstruct.generation.similarity.argsort_legacy import legacy_argsort_tail
from selfinstruct.generation.similarity.metadata import upstream_top_indices

DATA = json.loads((Path(__file__).parent / "data" / "legacy_argsort_numpy124.json").read_text("utf-8"))


def _row(case: dict) -> np.ndarray:
    values = np.array(case["values"], dtype=np.float64)
    return values[np.array([int(c) for c in case["codes"].split()], dtype=np.int64)]


def _cases(kind: str) -> list[dict]:
    return [c for c in DATA["cases"] if c["kind"] == kind]


def test_reference_was_recorded_by_an_old_numpy():
    major, minor = (int(x) for x in DATA["numpy"].split(".")[:2])
    assert (major, minor) < (1, 25)
    assert len(_cases("quicksort")) >= 300 and len(_cases("heapsort")) >= 50


def test_the_tail_of_the_old_argsort_is_reproduced_on_every_recorded_row():
    wrong = [i for i, c in enumerate(_cases("quicksort")) if legacy_argsort_tail(_row(c), 10).tolist() != c["tail"]]
    assert wrong == []


def test_the_recorded_rows_do_tell_the_sorts_apart():
    """Most rows have ties at the top whose order this numpy may not share; and the shortcut for
    rows without ties must agree too."""
    rows = _cases("quicksort")
    tied = [c for c in rows if not argsort_legacy._unambiguous(_row(c), min(10, len(c["tail"])))]
    assert len(tied) > len(rows) // 2
    assert any(argsort_legacy._unambiguous(_row(c), min(10, len(c["tail"]))) for c in rows)


def test_the_heapsort_past_the_depth_limit_is_the_old_heapsort(monkeypatch):
    monkeypatch.setattr(argsort_legacy, "_depth_limit", lambda n: -1)
    monkeypatch.setattr(argsort_legacy, "_unambiguous", lambda v, k: False)
    for c in _cases("heapsort"):
        assert legacy_argsort_tail(_row(c), 10).tolist() == c["tail"]


@pytest.mark.parametrize("k", [0, 1, 3, 10, 25])
def test_top_indices_are_the_reversed_tail_and_hold_the_k_best(k):
    rng = np.random.default_rng(k)
    row = rng.integers(0, 4, 700) / 4
    top = upstream_top_indices(row, k)
    assert len(top) == k
    assert sorted(row[top]) == sorted(np.sort(row)[len(row) - k:]) if k else True
    assert top.tolist() == legacy_argsort_tail(row, k)[::-1].tolist()
    assert upstream_top_indices(np.zeros(0), 10).tolist() == []
