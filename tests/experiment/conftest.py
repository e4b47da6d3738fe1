"""A tiny run directory and a two-task natural-instructions folder, for experiments whose models
are served by the scripted local server (no model is loaded, nothing is trained)."""
from __future__ import annotations

import json

import pytest

TASKS = {"task1_tiny_qa": "Question Answering", "task2_tiny_title": "Title Generation"}


@pytest.fixture
def tiny_run(tmp_path):
    run = tmp_path / "run"
    (run / "finetuning").mkdir(parents=True)
    rows = [{"instruction": f"Task T{i}: do thing {i}.", "input": "", "output": f"out {i}", "id": f"instruction_{i}",
             "is_classification": False} for i in range(5)]
    (run / "all_generated_instances.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = ["seed_task_0", "instruction_0", "instruction_0", "instruction_1", "instruction_2", "instruction_3"]
    files = {
        "finetuning_alpaca.jsonl": [{"instruction": f"i{n}", "input": "", "output": "o", "id": i} for n, i in enumerate(ids)],
        "finetuning_prompt_completion.jsonl": [{"prompt": f"p{n}", "completion": f"c{n}"} for n in range(len(ids))],
        "finetuning_messages.jsonl": [{"messages": [{"role": "user", "content": f"u{n}"}], "id": i}
                                      for n, i in enumerate(ids)],
    }
    for name, rs in files.items():
        (run / "finetuning" / name).write_text("".join(json.dumps(r) + "\n" for r in rs))
    return run


@pytest.fixture
def tiny_superni(tmp_path):
    root = tmp_path / "ni"
    (root / "tasks").mkdir(parents=True)
    (root / "splits" / "default").mkdir(parents=True)
    (root / "splits" / "default" / "test_tasks.txt").write_text("\n".join(TASKS) + "\n")
    for name, category in TASKS.items():
        task = {"Definition": [f"Answer {name}."], "Categories": [category], "Positive Examples": [],
                "Instances": [{"id": f"{name}-{i}", "input": f"input {i}", "output": [f"gold {i}"]} for i in range(3)]}
        (root / "tasks" / f"{name}.json").write_text(json.dumps(task))
    return root
