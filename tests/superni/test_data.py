"""Loading natural-instructions folders, and schema errors that name file and field."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from selfinstruct.evaluation.superni.data import (category_key, load_task, load_tasks, read_task_list,
                                                  split_task_names)
from selfinstruct.evaluation.superni.data import reference_rows as make_rows
from selfinstruct.generation.errors import InputError


def test_sample_tasks_load_and_match_official_references(superni_dir, sample_task_names, reference_rows):
    tasks = load_tasks(superni_dir, sample_task_names)
    assert [len(t.instances) for t in tasks] == [100, 100, 100, 100]
    ours = {r["id"]: r for r in make_rows(tasks)}
    official = {r["id"]: r for r in reference_rows if r["task_id"] in sample_task_names}
    assert len(official) == 400
    assert ours == official  # ids, references, task and category exactly as upstream's file


def test_split_list_and_categories(superni_dir):
    names = split_task_names(superni_dir)
    assert len(names) == 119 and len(set(names)) == 119
    task = load_task(superni_dir / "tasks" / "task957_e2e_nlg_text_generation_generate.json")
    assert task.category == "Data to Text" and category_key(task.category) == "data_to_text"
    assert task.name == "task957_e2e_nlg_text_generation_generate"
    assert len(load_task(superni_dir / "tasks" / "task648_answer_generation.json", max_instances=None).instances) == 281


def test_missing_task_names_the_file(superni_dir):
    with pytest.raises(InputError) as err:
        load_tasks(superni_dir)  # the split lists 119 tasks, the sample has 4
    assert "tasks/" in str(err.value) and "not found" in str(err.value)


def _write(tmp_path: Path, obj) -> Path:
    (tmp_path / "tasks").mkdir(exist_ok=True)
    p = tmp_path / "tasks" / "task1_x.json"
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return p


GOOD = {"Categories": ["Title Generation"], "Definition": ["Write a title."],
        "Positive Examples": [{"input": "a", "output": "b", "explanation": ""}],
        "Negative Examples": [], "Instances": [{"id": "task1-0", "input": "x", "output": ["y"]}]}


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(Definition="Write a title."), "Definition"),
    (lambda d: d.update(Definition=[]), "Definition"),
    (lambda d: d.pop("Categories"), "Categories"),
    (lambda d: d["Instances"][0].update(output="y"), "Instances[0].output"),
    (lambda d: d["Instances"][0].update(output=["y", 3]), "Instances[0].output[1]"),
    (lambda d: d["Instances"][0].pop("id"), "Instances[0].id"),
    (lambda d: d["Instances"].append(dict(d["Instances"][0])), "Instances[1].id"),
    (lambda d: d["Positive Examples"][0].pop("output"), "Positive Examples[0].output"),
])
def test_schema_errors_name_file_and_field(tmp_path, mutate, field):
    obj = json.loads(json.dumps(GOOD))
    mutate(obj)
    path = _write(tmp_path, obj)
    with pytest.raises(InputError) as err:
        load_task(path)
    assert err.value.field == field and Path(err.value.file) == path
    assert str(err.value).startswith(f"{path}: {field}: ")


def test_invalid_json_gives_line(tmp_path):
    path = _write(tmp_path, '{\n "Definition": ["x"],\n oops\n}')
    with pytest.raises(InputError) as err:
        load_task(path)
    assert err.value.line == 3 and "invalid JSON" in err.value.message


def test_good_file_and_task_list(tmp_path):
    path = _write(tmp_path, GOOD)
    task = load_task(path)
    assert task.definition == "Write a title." and task.instances[0].references == ("y",)
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\ntask1_x\n\n")
    assert read_task_list(lst) == ["task1_x"]
    assert make_rows(load_tasks(tmp_path, ["task1_x"]))[0]["task_category"] == "Title Generation"
    lst.write_text("tasks/task1_x.json\n")
    with pytest.raises(InputError, match="bare task name"):
        read_task_list(lst)


def test_duplicate_ids_across_tasks(tmp_path):
    _write(tmp_path, GOOD)
    shutil.copy(tmp_path / "tasks" / "task1_x.json", tmp_path / "tasks" / "task2_y.json")
    with pytest.raises(InputError, match="also appears in task task1_x"):
        load_tasks(tmp_path, ["task1_x", "task2_y"])
