"""Downloading tasks into the cache from a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import json
import shutil

import pytest

from selfinstruct.evaluation.superni.data import load_tasks
from selfinstruct.evaluation.superni.download import download_tasks
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError

SMALL = ["task648_answer_generation", "task1393_superglue_copa_text_completion"]


@pytest.fixture
def upstream(tmp_path, superni_dir, folder_server):
    root = tmp_path / "remote"
    (root / "tasks").mkdir(parents=True)
    (root / "splits" / "default").mkdir(parents=True)
    for name in SMALL:
        shutil.copy(superni_dir / "tasks" / f"{name}.json", root / "tasks")
    (root / "splits" / "default" / "test_tasks.txt").write_text("\n".join(SMALL) + "\n")
    with folder_server(root) as server:
        yield server


def test_download_then_resume_skips_verified(tmp_path, upstream):
    cache = tmp_path / "cache"
    report = download_tasks(cache, base_url=upstream.url, progress=False)  # task names from the split file
    assert sorted(report.downloaded) == sorted(SMALL) and not report.skipped
    assert [t.name for t in load_tasks(cache)] == SMALL  # the cache is a data dir
    upstream.requests.clear()
    report = download_tasks(cache, base_url=upstream.url, progress=False)
    assert sorted(report.skipped) == sorted(SMALL) and not report.downloaded
    assert not any(r.startswith("tasks/") for r in upstream.requests)


@pytest.mark.parametrize("fault", ["truncate", "corrupt", "500"])
def test_bad_download_never_lands_then_resumes(tmp_path, upstream, fault):
    cache = tmp_path / "cache"
    upstream.faults[f"tasks/{SMALL[1]}.json"] = fault
    with pytest.raises(InputError) as err:
        download_tasks(cache, tasks=SMALL, base_url=upstream.url, retries=1, progress=False)
    assert "1 of 2 task(s) failed" in str(err.value) and SMALL[1] in str(err.value)
    assert (cache / "tasks" / f"{SMALL[0]}.json").is_file()
    assert not (cache / "tasks" / f"{SMALL[1]}.json").exists()
    assert not list((cache / "tasks").glob(".*.tmp"))
    upstream.faults.clear()
    report = download_tasks(cache, tasks=SMALL, base_url=upstream.url, progress=False)
    assert report.skipped == [SMALL[0]] and report.downloaded == [SMALL[1]]


def test_corrupt_cached_file_is_fetched_again(tmp_path, upstream):
    cache = tmp_path / "cache"
    download_tasks(cache, tasks=SMALL, base_url=upstream.url, progress=False)
    victim = cache / "tasks" / f"{SMALL[0]}.json"
    victim.write_bytes(victim.read_bytes()[:1000])  # a torn write from some other tool
    report = download_tasks(cache, tasks=SMALL, base_url=upstream.url, progress=False)
    assert report.downloaded == [SMALL[0]]
    assert json.loads(victim.read_text())["Instances"]


def test_download_cli(tmp_path, upstream, capsys):
    cache = tmp_path / "cache"
    assert main(["evaluate", "superni", "download", "--cache-dir", str(cache), "--data-url", upstream.url,
                 "--tasks", SMALL[0], "--no-progress"]) == 0
    assert "1 downloaded" in capsys.readouterr().out
    assert main(["evaluate", "superni", "download", "--cache-dir", str(cache), "--data-url", upstream.url,
                 "--tasks", "task0_missing", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {upstream.url}: 1 of 1 task(s) failed") and "HTTP 404" in err
