"""The package skeleton: mapping, CLI, error contract, JSONL I/O, seed loader."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import JsonlAppender, iter_jsonl, read_jsonl, write_jsonl
from selfinstruct.generation.seeds import load_seed_tasks, write_seed_tasks


def test_packages_import_under_selfinstruct_names():
    import selfinstruct.evaluation
    import selfinstruct.generation

    assert Path(selfinstruct.generation.__file__).parent.name == "generation"
    assert Path(selfinstruct.evaluation.__file__).parent.name == "evaluation"


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "selfinstruct.generation.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "evaluate" in out


def test_upstream_seed_file_loads(upstream_seed_file):
    tasks = load_seed_tasks(upstream_seed_file)
    assert len(tasks) == 175
    assert sum(t.is_classification for t in tasks) == 26
    assert sum(t.instances[0].input == "" for t in tasks) == 50


def test_seed_roundtrip(tmp_path, seed_file):
    tasks = load_seed_tasks(seed_file)
    out = tmp_path / "copy.jsonl"
    write_seed_tasks(out, tasks)
    assert load_seed_tasks(out) == tasks


def _broken(tmp_path, seed_file, line_index, mutate):
    lines = seed_file.read_text(encoding="utf-8").splitlines()
    if mutate == "copy first instruction":
        mutate = _edit(instruction=json.loads(lines[0])["instruction"])
    lines[line_index] = mutate(lines[line_index])
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _edit(**changes):
    def mutate(line):
        obj = json.loads(line)
        for key, value in changes.items():
            if value is KeyError:
                obj.pop(key)
            else:
                obj[key] = value
        return json.dumps(obj)
    return mutate


@pytest.mark.parametrize(
    "line_index, mutate, expected",
    [
        (3, lambda line: line[:-5], ":4: invalid JSON"),
        (7, _edit(instruction=KeyError), ":8: instruction: missing field"),
        (9, _edit(is_classification="yes"), ":10: is_classification: expected bool"),
        (11, _edit(instances=[{"input": "", "output": 3}]), ":12: instances[0].output: expected str"),
        (12, _edit(id="seed_task_0"), ":13: id: duplicate id"),
        (20, "copy first instruction", ":21: instruction: duplicate instruction"),
        (30, _edit(instances=[]), ":31: instances: needs at least one instance"),
    ],
)
def test_broken_seed_files_name_file_line_and_field(tmp_path, seed_file, line_index, mutate, expected):
    path = _broken(tmp_path, seed_file, line_index, mutate)
    with pytest.raises(InputError) as info:
        load_seed_tasks(path)
    assert str(info.value).startswith(str(path))
    assert expected in str(info.value)


def test_empty_seed_file_refused(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        load_seed_tasks(path)


def test_user_oriented_set_refused_as_seeds(user_oriented_file):
    with pytest.raises(InputError, match="never be used as seed"):
        load_seed_tasks(user_oriented_file)


def test_torn_tail_is_repaired_before_append(tmp_path):
    path = tmp_path / "log.jsonl"
    write_jsonl(path, [{"a": 1}])
    with path.open("a") as fh:
        fh.write('{"a": 2, "b"')  # a writer killed mid-line
    assert read_jsonl(path, allow_torn_tail=True) == [{"a": 1}]
    with pytest.raises(InputError, match=":2: invalid JSON"):
        list(iter_jsonl(path))
    with JsonlAppender(path) as log:
        log.write({"a": 3})
    assert read_jsonl(path) == [{"a": 1}, {"a": 3}]


def test_atomic_files_get_normal_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_one_cache_rule_for_models_and_downloads(tmp_path, monkeypatch):
    from selfinstruct.evaluation.superni.download import default_cache_dir
    from selfinstruct.generation.cache import cache_root
    from selfinstruct.generation.lm.embedded import models_dir

    monkeypatch.delenv("SELFINSTRUCT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "selfinstruct"
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "mine"))
    assert models_dir() == tmp_path / "mine" / "models"
    assert default_cache_dir() == tmp_path / "mine" / "superni" / "natural-instructions"


def test_shared_values_are_encoded_once_and_spliced(tmp_path):
    from selfinstruct.generation.jsonl import SharedEncoder, dumps

    response = {"choices": [{"text": "1. a\n2. b", "logprobs": {"tokens": ["a"], "token_logprobs": [-0.5]}}]}
    metadata = {"prompt": "Come up with", "response": response, "created_at": "now"}
    enc = SharedEncoder()
    rows = [{"instruction": name, "metadata": enc.fragment(metadata, ("response",))} for name in ("x", "y")]
    assert len(enc) == 2  # the metadata and, inside it, the response
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, rows)
    assert read_jsonl(path) == [{"instruction": n, "metadata": metadata} for n in ("x", "y")]
    log = JsonlAppender(tmp_path / "log.jsonl")
    log.write({"response": enc.fragment(response)})
    log.close()
    assert read_jsonl(tmp_path / "log.jsonl") == [{"response": response}]
    enc.clear()
    assert len(enc) == 0
    # what orjson cannot encode falls back to the standard library, inside a shared value too
    assert json.loads(dumps({"big": 2**70, "m": [1, "é"]})) == {"big": 2**70, "m": [1, "é"]}
    assert json.loads(dumps({"m": SharedEncoder().fragment([2**70, "é"])})) == {"m": [2**70, "é"]}


def test_bad_json_is_reported_in_the_standard_librarys_words(tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_text('{"a": NaN}\n{"a": \n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_jsonl(path)
    assert err.value.line == 2 and "Expecting value" in str(err.value)  # line 1 (NaN) was read
