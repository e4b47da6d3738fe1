"""The data-quality tests' tiny run directory, and the headless Chromium of the user-oriented
sheet tests (the data-quality sheet is that sheet in its questions mode)."""
from __future__ import annotations

import json

import pytest
from user_oriented.conftest import browser  # noqa: F401


def _make_run(path, n=4, per=2):
    """`n` instructions "Task T<i>: ...", `per` instances each (the first without an input)."""
    path.mkdir(parents=True, exist_ok=True)
    rows = [{"instruction": f"Task T{i}: do thing {i}.", "input": "" if j == 0 else f"input {i}.{j}",
             "output": f"out {i}.{j}", "id": f"instruction_{i}", "is_classification": False}
            for i in range(n) for j in range(per)]
    (path / "all_generated_instances.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def make_run():
    return _make_run
