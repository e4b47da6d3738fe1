"""Bounded inputs and redacted URLs: a runaway line is refused with its file, line and field
before it can exhaust memory; no URL credential reaches a file."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation import cli, jsonl, limits
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.redact import redact_url
from selfinstruct.generation.seeds import load_seed_tasks


def _seed(instruction: str, output: str = "4") -> dict:
    return {"id": "seed_task_0", "name": "t", "instruction": instruction, "is_classification": False,
            "instances": [{"input": "", "output": output}]}


def test_a_million_word_seed_instruction_is_refused(tmp_path, capsys):
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps(_seed("Add two numbers.")) + "\n" + json.dumps(_seed("word " * 1_000_000)) + "\n")
    with pytest.raises(InputError) as err:
        load_seed_tasks(path)
    assert err.value.line == 2 and err.value.field == "instruction"
    code = cli.main(["generate", "--out", str(tmp_path / "run"), "--num-instructions", "5", "--seed-tasks", str(path),
                     "--no-progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and f"{path}:2: instruction: instruction too long" in lines[0]
    assert not (tmp_path / "run").exists()


def test_a_long_instance_output_names_its_field(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps(_seed("Add two numbers.", output="x" * (limits.MAX_FIELD_CHARS + 1))) + "\n")
    with pytest.raises(InputError) as err:
        load_seed_tasks(path)
    assert err.value.field == "instances[0].output"


def test_a_line_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 100)
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n' + json.dumps({"a": "y" * 200}) + "\n")
    with pytest.raises(InputError) as err:
        list(jsonl.iter_jsonl(path))
    assert err.value.line == 2


@pytest.mark.parametrize("url, expected", [
    ("http://user:SECRETKEY@127.0.0.1:9/v1", "http://127.0.0.1:9/v1"),
    ("https://host/v1?api_key=SECRETKEY&region=eu", "https://host/v1?api_key=REDACTED&region=eu"),
    ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    (None, None),
])
def test_urls_lose_their_credentials(url, expected):
    assert redact_url(url) == expected
