"""The `upstream` profile's copy of the original repository: the user's folder, or a download at
the pinned commit verified by sha256 (from a mirror on 127.0.0.1); its seed tasks as the
default; and the original retry rule that shrinks max_tokens when the prompt is too long."""
from __future__ import annotations

import json
import shutil

import pytest

from selfinstruct.generation import cli
from selfinstruct.generation.errors import InputError
from doubles.localserver import LocalServer
from selfinstruct.generation.pipeline import upstream_copy
from doubles.synthetic import synthetic_responder

from .conftest import SECRET, read_jsonl


def _copy(src, dst):
    for rel in upstream_copy.FILES:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst / rel)
    return dst


def test_a_users_copy_is_used_as_it_is_and_must_be_complete(upstream_repo, tmp_path):
    copy = _copy(upstream_repo, tmp_path / "copy")
    assert upstream_copy.resolve(copy) == copy
    (copy / "self_instruct/templates/clf_task_template.py").unlink()
    with pytest.raises(InputError, match="clf_task_template.py is missing"):
        upstream_copy.resolve(copy)


def test_the_download_is_verified_and_a_changed_file_is_refused(upstream_repo, tmp_path, static_server, monkeypatch):
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(upstream_copy.BASE_URL_ENV, static_server(upstream_repo))
    root = upstream_copy.resolve(None)
    assert root == upstream_copy.cached_copy() and str(tmp_path / "cache") in str(root)
    assert all((root / rel).is_file() for rel in upstream_copy.FILES)
    assert not list(root.rglob(".*.tmp"))

    tampered = _copy(upstream_repo, tmp_path / "tampered")
    path = tampered / "self_instruct/templates/instance_gen_template.py"
    path.write_text(path.read_text("utf-8").replace("Task:", "Tusk:", 1), "utf-8")
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setenv(upstream_copy.BASE_URL_ENV, static_server(tampered))
    with pytest.raises(InputError, match="sha256 mismatch"):
        upstream_copy.resolve(None)
    assert not (upstream_copy.cached_copy() / "self_instruct/templates/instance_gen_template.py").exists()


def test_templates_are_read_without_running_them(upstream_repo, tmp_path):
    copy = _copy(upstream_repo, tmp_path / "copy")
    marker = tmp_path / "executed"
    path = copy / "self_instruct/templates/clf_task_template.py"
    path.write_text(f"open({str(marker)!r}, 'w').close()\n" + path.read_text("utf-8"), "utf-8")
    upstream_copy.read_texts.cache_clear()
    texts = upstream_copy.read_texts(copy)
    assert texts.classify_prefix.rstrip().endswith("Task:") and not marker.exists()


def test_upstream_dir_supplies_texts_and_seeds(tmp_path, server, upstream_repo):
    copy = _copy(upstream_repo, tmp_path / "copy")
    out = tmp_path / "run"
    argv = ["generate", "--out", str(out), "--profile", "upstream", "--upstream-dir", str(copy), "--model",
            "local-test-model", "--base-url", server.base_url, "--api-key", SECRET, "--num-instructions", "6",
            "--no-progress", "--no-summary"]
    assert cli.main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["seed_tasks"] == str(copy / "data" / "seed_tasks.jsonl")
    assert manifest["settings"]["prompts_per_request"] == 5  # the original's request batch
    first = read_jsonl(out / "requests.jsonl")[0]["prompt"]
    assert first.startswith(upstream_copy.read_texts(copy).header + "\n1. ")


@pytest.mark.parametrize("profile", ["upstream", "default"])
def test_too_long_prompts_retry_with_fewer_tokens_only_upstream(tmp_path, profile, upstream_seed_file, request):
    if profile == "upstream":
        request.getfixturevalue("upstream_mirror")
    with LocalServer(synthetic_responder, context_tokens=1000) as srv:
        out = tmp_path / profile
        argv = ["generate", "--out", str(out), "--profile", profile, "--model", "local-test-model",
                "--base-url", srv.base_url, "--api-key", SECRET, "--num-instructions", "8", "--seed-tasks",
                str(upstream_seed_file), "--no-progress", "--no-summary", "--max-failures", "0" if profile == "upstream" else "3"]
        code = cli.main(argv)
    boot = [r for r in read_jsonl(out / "requests.jsonl") if r["step"] == "bootstrap"]
    if profile == "upstream":
        assert code == 0
        sizes = {r["params"]["max_tokens"] for r in boot}
        assert sizes <= {819, 655, 524} and sizes  # int(1024 * 0.8), then again
        assert all(r["response"] is not None for r in boot)
        # the long instance prompts still do not fit after three cuts: logged as failed, as sent
        failed = [r for r in read_jsonl(out / "requests.jsonl") if r["step"] == "instances" and r["error"]]
        assert failed and {r["params"]["max_tokens"] for r in failed} <= {153, 179}  # 300 / 350 * 0.8 ** 3
    else:
        assert code == 3  # nothing fits, nothing is retried smaller: the run stops, resumable
        assert all(r["params"]["max_tokens"] == 1024 for r in boot)
