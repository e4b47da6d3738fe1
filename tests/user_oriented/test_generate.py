"""`evaluate user-oriented generate`: the embedded model, and a real HTTP server with resume."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation.lm.base import BackendInfo
from selfinstruct.evaluation.user_oriented.prompts import build_prompt
from selfinstruct.generation.cli import main
from selfinstruct.generation.jsonl import read_jsonl
from doubles.localserver import LocalServer

UPSTREAM_FIELDS = ["prompt", "instruction", "input", "response", "target", "id", "model"]


def _gen(server, out, tf, *extra):
    return main(["evaluate", "user-oriented", "generate", "--model", "tiny-api-model", "--base-url", server.base_url,
                 "--api-key", "sk-test-secret", "--max-retries", "0", "--out", str(out), "--tasks-file", str(tf),
                 "--max-new-tokens", "16", *extra])


def test_generate_against_local_server_and_resume(tmp_path, user_oriented_file, uo_tasks, capsys):
    out = tmp_path / "preds.jsonl"
    with LocalServer(lambda body: " echo " + body["prompt"].splitlines()[0][:20]) as server:
        assert _gen(server, out, user_oriented_file, "--limit", "4") == 0
        bodies = sorted(server.received, key=lambda b: b["prompt"])
        assert sorted(b["prompt"] for b in bodies) == sorted(build_prompt(t.instruction, t.input) for t in uo_tasks[:4])
        assert all(b["max_tokens"] == 16 and b["temperature"] == 0 for b in bodies)
        records = read_jsonl(out)
        assert [r["id"] for r in records] == [t.id for t in uo_tasks[:4]]
        assert list(records[0]) == UPSTREAM_FIELDS
        assert records[2]["target"] == uo_tasks[2].output and records[2]["model"] == "tiny-api-model"
        assert records[0]["response"].startswith(" echo ")

        # A crash left half a line: it is cut, done ids are skipped, only the rest is asked for.
        with out.open("a") as fh:
            fh.write('{"prompt": "half a rec')
        server.reset()
        assert _gen(server, out, user_oriented_file, "--limit", "7") == 0
        assert len(server.received) == 3
        assert [r["id"] for r in read_jsonl(out)] == [t.id for t in uo_tasks[:7]]

        # Another model into the same file: refused with a one-line error, file untouched.
        before = out.read_bytes()
        capsys.readouterr()
        assert main(["evaluate", "user-oriented", "generate", "--model", "other", "--base-url", server.base_url,
                     "--out", str(out), "--tasks-file", str(user_oriented_file), "--limit", "8"]) == 2
        assert "model" in capsys.readouterr().err and out.read_bytes() == before

    manifest = json.loads((tmp_path / "preds.manifest.json").read_text())
    assert manifest["counts"]["written"] == 3 and manifest["counts"]["already_done"] == 4
    assert manifest["backend"]["api_key_set"] is True
    assert "sk-test-secret" not in (tmp_path / "preds.manifest.json").read_text()
    assert "sk-test-secret" not in out.read_text()


def test_failed_requests_are_not_written_and_retried_on_rerun(tmp_path, user_oriented_file, uo_tasks):
    out = tmp_path / "p.jsonl"
    with LocalServer(lambda body: " ok", script=["500"]) as server:
        assert _gen(server, out, user_oriented_file, "--limit", "3", "--concurrency", "1") == 1
        assert len(read_jsonl(out)) == 2
        server.reset()
        assert _gen(server, out, user_oriented_file, "--limit", "3") == 0
        assert len(server.received) == 1
        assert sorted(r["id"] for r in read_jsonl(out)) == sorted(t.id for t in uo_tasks[:3])


class _Shared(BackendInfo):
    """The session's embedded model, handed to the CLI without letting it close the model."""

    def __init__(self, lm):
        super().__init__()
        self.lm, self.name = lm, lm.name

    def generate(self, requests, progress=None):
        return self.lm.generate(requests, progress=progress)

    def close(self):
        pass


@pytest.mark.slow
def test_generate_with_the_embedded_model(tmp_path, user_oriented_file, embedded_lm, monkeypatch):
    # The real SmolLM2 through the whole command; loaded once per session (the shared fixture).
    from selfinstruct.generation.lm import factory

    monkeypatch.setattr(factory, "make_backend", lambda config: _Shared(embedded_lm) if config.model == "smollm2"
                        else pytest.fail(f"unexpected model {config.model}"))
    out = tmp_path / "smollm2_predictions.jsonl"
    assert main(["evaluate", "user-oriented", "generate", "--out", str(out), "--limit", "2",
                 "--max-new-tokens", "8", "--tasks-file", str(user_oriented_file)]) == 0
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["user_oriented_task_0", "user_oriented_task_1"]
    assert all(r["model"] == "smollm2" and isinstance(r["response"], str) for r in records)
    assert any(r["response"].strip() for r in records)
    manifest = json.loads((tmp_path / "smollm2_predictions.manifest.json").read_text())
    assert manifest["params"]["max_tokens"] == 8
