"""`dataset publish` that cannot succeed says why in one line, exit 2, the token never shown:
a token the Hub refuses (on a repository that exists), an endpoint nobody answers. And one
repository-id rule for `build` and `publish`."""
from __future__ import annotations

import socket

import pytest

from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.publish.hub import check_repo_id
from doubles.hub_standin import HubStandIn

TOKEN = "hf_StandInToken0123456789abcdefghij"
WRONG = "hf_WrongToken0123456789abcdefghijkl"
REPO = "acme/self-instruct-demo"


def _publish(endpoint: str, folder, tag: str = "v1.0.0") -> int:
    return main(["dataset", "publish", str(folder), "--repo-id", REPO, "--tag", tag, "--endpoint", endpoint])


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert TOKEN not in captured.out + err and WRONG not in captured.out + err
    return lines[0]


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with HubStandIn(token=TOKEN) as server:
        yield server


def test_a_refused_token_on_an_existing_repo_is_one_line(hub, built_folder, monkeypatch, capsys):
    assert _publish(hub.endpoint, built_folder) == 0
    tags = dict(hub.repo(REPO).tags)
    capsys.readouterr()
    monkeypatch.setenv("HF_TOKEN", WRONG)
    assert _publish(hub.endpoint, built_folder, tag="v1.0.1") == 2
    line = _one_line(capsys)
    assert "token" in line and "401" in line
    assert hub.repo(REPO).tags == tags


def test_a_wrong_token_on_a_new_repo_is_one_line(hub, built_folder, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", WRONG)
    assert _publish(hub.endpoint, built_folder) == 2
    assert "token" in _one_line(capsys) and hub.repos == {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_is_one_line(built_folder, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    endpoint = f"http://127.0.0.1:{_free_port()}"
    assert _publish(endpoint, built_folder) == 2
    line = _one_line(capsys)
    assert "cannot reach" in line and endpoint in line


@pytest.mark.parametrize("repo_id", ["acme/demo", "a-b_c.d/x.y-z_1", "a/" + "n" * 96, "A1/B2"])
def test_valid_repo_ids(repo_id):
    check_repo_id(repo_id)


@pytest.mark.parametrize("repo_id", ["not a repo id", "demo", "a/b/c", "acme/bad name!", "acme/-lead", "acme/trail.",
                                     ".acme/x", "acme/" + "n" * 97, "acme/é", "acme/a--b", "acme/a..b", "acme/x.git",
                                     "/x", "acme/"])
def test_invalid_repo_ids(repo_id):
    with pytest.raises(InputError) as info:
        check_repo_id(repo_id)
    assert info.value.field == "--repo-id"


def test_build_refuses_a_bad_repo_id_before_writing(run_dir, tmp_path, capsys):
    out = tmp_path / "folder"
    assert main(["dataset", "build", str(run_dir), "--out", str(out), "--repo-id", "not a repo id",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--repo-id" in err and "not a repo id" in err
    assert not out.exists()
