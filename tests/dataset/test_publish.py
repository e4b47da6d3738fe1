"""`selfinstruct dataset publish` against a local stand-in for the Hub's HTTP API (a real server on
127.0.0.1 driven by the real `huggingface_hub` client): one commit, then a tag; the released
revision loads with `load_dataset`; the token is sent but never shown; refusals exit 2 and write
nothing; a failed commit leaves no tag."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from selfinstruct.generation.cli import main
from selfinstruct.generation.publish.hub import folder_files
from doubles.hub_standin import HubStandIn

TOKEN = "hf_StandInToken0123456789abcdefghij"
REPO = "acme/self-instruct-demo"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with HubStandIn(token=TOKEN) as server:
        yield server


def publish(hub, folder, *extra, repo=REPO, tag="v1.0.0") -> int:
    return main(["dataset", "publish", str(folder), "--repo-id", repo, "--tag", tag, "--endpoint", hub.endpoint,
                 *extra])


def _env(hub, home: Path, token: str | None = TOKEN) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1")
    if token:
        env["HF_TOKEN"] = token
    return env


def test_publish_then_load_the_release_through_the_hub_api(hub, built_folder, tmp_path):
    """Subprocess with HF_ENDPOINT set before huggingface_hub is imported, then `load_dataset`
    of the tagged revision through the same stand-in."""
    env = _env(hub, tmp_path / "home")
    proc = subprocess.run([sys.executable, "-m", "selfinstruct.generation.cli", "dataset", "publish",
                           str(built_folder), "--repo-id", REPO, "--tag", "v1.0.0"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    repo = hub.repo(REPO)
    assert repo.tags["v1.0.0"] == repo.branches["main"]
    published = hub.files(REPO, "v1.0.0")
    assert set(published) == set(folder_files(built_folder)) | {".gitattributes"}
    assert published["README.md"] == (built_folder / "README.md").read_bytes()
    # Every request carried the token; the stand-in saw exactly the token we set.
    assert {r.authorization for r in hub.received} == {f"Bearer {TOKEN}"}
    paths = [f"{r.method} {r.path.split('?')[0]}" for r in hub.received]
    commit_at = paths.index(f"POST /api/datasets/{REPO}/commit/main")
    assert paths[commit_at - 1] == f"POST /api/datasets/{REPO}/preupload/main"
    assert paths[-1].startswith(f"POST /api/datasets/{REPO}/tag/")  # tag only after the commit

    code = ("from datasets import load_dataset\n"
            f"for c in ['instances', 'instructions', 'finetuning', 'messages']:\n"
            f"    d = load_dataset({REPO!r}, c, revision='v1.0.0')\n"
            "    print(c, {k: len(v) for k, v in d.items()})\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["instances {'train': 29}", "instructions {'train': 24}",
                                        "finetuning {'train': 29}", "messages {'train': 29}"]


def test_stored_files_load_with_load_dataset(hub, built_folder, tmp_path):
    assert publish(hub, built_folder) == 0
    folder = hub.export(REPO, "v1.0.0", tmp_path / "export")
    ds = load_dataset(str(folder), "instructions", cache_dir=str(tmp_path / "c"))
    assert len(ds["train"]) == 24


def test_existing_tag_is_refused_before_any_upload(hub, built_folder, capsys):
    assert publish(hub, built_folder) == 0
    head = hub.repo(REPO).branches["main"]
    assert publish(hub, built_folder) == 2
    assert "tag v1.0.0 already exists" in capsys.readouterr().err
    assert hub.repo(REPO).branches["main"] == head
    assert not any("/commit/" in r.path for r in hub.received[-3:])


def test_failed_commit_leaves_no_tag(hub, built_folder, capsys):
    hub.fail_commits = 1
    assert publish(hub, built_folder) == 1
    out = capsys.readouterr()
    assert "upload failed, nothing was tagged" in out.err and TOKEN not in out.out + out.err
    repo = hub.repo(REPO)
    assert repo.tags == {} and set(hub.files(REPO, "main")) == {".gitattributes"}
    assert publish(hub, built_folder) == 0  # the same release succeeds once the Hub is back
    assert set(repo.tags) == {"v1.0.0"}


def test_a_new_release_removes_stale_files(hub, run_dir, built_folder, tmp_path):
    assert publish(hub, built_folder) == 0
    split = tmp_path / "split"
    assert main(["dataset", "build", str(run_dir), "--out", str(split), "--validation-size", "0.3",
                 "--no-progress"]) == 0
    assert publish(hub, split, tag="v1.1.0") == 0
    v1, v11 = hub.files(REPO, "v1.0.0"), hub.files(REPO, "v1.1.0")
    assert "instances/validation-00000-of-00001.parquet" in v11
    assert "instances/validation-00000-of-00001.parquet" not in v1
    assert v1["instances/train-00000-of-00001.parquet"] != v11["instances/train-00000-of-00001.parquet"]
    # Back to the train-only folder: the validation shards disappear from the branch, and
    # the older release still has them.
    assert publish(hub, built_folder, tag="v1.2.0") == 0
    assert not any("validation" in p for p in hub.files(REPO, "v1.2.0"))
    assert hub.files(REPO, "v1.1.0") == v11


def test_card_naming_a_missing_file_is_refused(hub, built_folder, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built_folder, copy)
    (copy / "messages" / "train-00000-of-00001.parquet").unlink()
    assert publish(hub, copy) == 2
    assert "names a missing data file: messages/train-00000-of-00001.parquet" in capsys.readouterr().err
    assert hub.received == []


@pytest.mark.parametrize("repo, tag, message", [
    ("no-namespace", "v1.0.0", "--repo-id: expected ORG/NAME"),
    ("acme/bad name!", "v1.0.0", "--repo-id: invalid repository id"),
    ("a/b/c", "v1.0.0", "--repo-id: expected ORG/NAME"),
    (REPO, "1.0", "--tag: expected a release tag like v1.0.0"),
    (REPO, "latest", "--tag: expected a release tag like v1.0.0"),
])
def test_bad_arguments_exit_2_without_contacting_the_hub(hub, built_folder, capsys, repo, tag, message):
    assert publish(hub, built_folder, repo=repo, tag=tag) == 2
    assert message in capsys.readouterr().err
    assert hub.received == []


def test_folder_without_card_is_refused(hub, tmp_path, capsys):
    (tmp_path / "x.parquet").write_bytes(b"")
    assert publish(hub, tmp_path) == 2
    assert "no README.md" in capsys.readouterr().err and hub.received == []


def test_branch_and_pull_request_releases(hub, built_folder):
    assert publish(hub, built_folder, "--revision", "dev") == 0
    repo = hub.repo(REPO)
    assert repo.tags["v1.0.0"] == repo.branches["dev"] and set(hub.files(REPO, "main")) == {".gitattributes"}
    assert publish(hub, built_folder, "--create-pr", tag="v1.0.1") == 0
    assert repo.tags["v1.0.1"] == repo.prs[1] and set(hub.files(REPO, "main")) == {".gitattributes"}


def test_private_repo(hub, built_folder):
    assert publish(hub, built_folder, "--private") == 0
    assert hub.repo(REPO).private is True


def test_missing_or_wrong_token(hub, built_folder, tmp_path):
    cmd = [sys.executable, "-m", "selfinstruct.generation.cli", "dataset", "publish", str(built_folder),
           "--repo-id", REPO, "--tag", "v1.0.0"]
    proc = subprocess.run(cmd, env=_env(hub, tmp_path / "h1", token=None), capture_output=True, text=True)
    assert proc.returncode == 2 and "no Hugging Face token" in proc.stderr
    wrong = "hf_WrongToken0123456789abcdefghijk"
    proc = subprocess.run(cmd, env=_env(hub, tmp_path / "h2", token=wrong), capture_output=True, text=True)
    assert proc.returncode == 2 and "refused the token (HTTP 401" in proc.stderr
    assert wrong not in proc.stdout + proc.stderr and hub.repos == {}
