"""Loading, verifying and downloading the 252 user-oriented tasks."""
from __future__ import annotations

import json
import shutil

import pytest

from selfinstruct.evaluation.user_oriented import tasks as T
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.seeds import load_seed_tasks


def test_loads_the_252_tasks(uo_tasks):
    assert len(uo_tasks) == 252
    assert uo_tasks[0].id == "user_oriented_task_0" and uo_tasks[-1].id == "user_oriented_task_251"
    assert sum(1 for t in uo_tasks if not t.input) == 44
    assert len({t.motivation_app for t in uo_tasks}) == 71
    assert all(t.output for t in uo_tasks)


def test_truncated_file_is_refused(tmp_path, user_oriented_file):
    lines = user_oriented_file.read_text().splitlines()
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(lines[:200]) + "\n")
    with pytest.raises(InputError, match="expected 252 user-oriented tasks, found 200"):
        T.load_tasks_file(short)


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r.pop("motivation_app"), "motivation_app"),
    (lambda r: r.update(instances=[]), "instances"),
    (lambda r: r["instances"][0].update(output=3), "instances[0].output"),
    (lambda r: r.update(id="user_oriented_task_0"), "id"),
])
def test_schema_errors_name_line_and_field(tmp_path, user_oriented_file, mutate, field):
    records = [json.loads(x) for x in user_oriented_file.read_text().splitlines()]
    mutate(records[5])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError) as err:
        T.load_tasks_file(bad)
    assert err.value.line == 6 and err.value.field == field


def test_download_verifies_and_caches(tmp_path, static_server, user_oriented_file):
    mirror = tmp_path / "mirror" / "human_eval"
    mirror.mkdir(parents=True)
    shutil.copy(user_oriented_file, mirror / T.FILE_NAME)
    base = static_server(tmp_path / "mirror")
    cache = tmp_path / "cache"
    path = T.download_tasks(base, cache)
    assert path == cache / "user_oriented" / T.FILE_NAME
    assert path.read_bytes() == user_oriented_file.read_bytes()
    # The cache is used afterwards: the mirror can disappear.
    shutil.rmtree(tmp_path / "mirror")
    tasks, used = T.resolve_tasks(None, base_url=base, cache_dir=cache)
    assert used == path and len(tasks) == 252


def test_bad_download_is_not_cached(tmp_path, static_server, user_oriented_file):
    mirror = tmp_path / "mirror" / "human_eval"
    mirror.mkdir(parents=True)
    lines = user_oriented_file.read_text().splitlines()
    (mirror / T.FILE_NAME).write_text("\n".join(lines[:10]) + "\n")
    base = static_server(tmp_path / "mirror")
    with pytest.raises(InputError, match="found 10"):
        T.download_tasks(base, tmp_path / "cache")
    assert not (tmp_path / "cache" / "user_oriented" / T.FILE_NAME).exists()


def test_download_command_and_offline_error(tmp_path, static_server, user_oriented_file, capsys):
    mirror = tmp_path / "mirror" / "human_eval"
    mirror.mkdir(parents=True)
    shutil.copy(user_oriented_file, mirror / T.FILE_NAME)
    base = static_server(tmp_path / "mirror")
    assert main(["evaluate", "user-oriented", "download", "--tasks-base-url", base, "--cache-dir",
                 str(tmp_path / "c")]) == 0
    assert "252 tasks verified" in capsys.readouterr().out
    # Nothing listens on this port: one clear line, exit 2.
    assert main(["evaluate", "user-oriented", "download", "--tasks-base-url", "http://127.0.0.1:9",
                 "--cache-dir", str(tmp_path / "c2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: http://127.0.0.1:9/human_eval/") and "--tasks-file" in err and "\n" not in err


def test_never_usable_as_seed_data(user_oriented_file):
    with pytest.raises(InputError, match="never be used as seed data"):
        load_seed_tasks(user_oriented_file)
