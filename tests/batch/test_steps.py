"""One batch per step whatever --concurrency says (it sizes a live run's chunks): generate's
classify and instances steps, and each stage of the family methods; step 1 stays one batch a
round."""
from __future__ import annotations

import json

from doubles.batch_standin import BatchStandin
from doubles.family import respond
from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder
from methods.conftest import SECRET as METHOD_SECRET
from methods.conftest import method_argv, method_files
from pipeline.conftest import derived_files
from selfinstruct.generation import cli
from selfinstruct.generation.pipeline.methods.runner import MethodRunner

from .conftest import SECRET, generate_argv, run_cli


def test_generate_steps_2_and_3_are_one_batch_each_under_a_small_concurrency(tmp_path, seed_file):
    flags = ("--concurrency", "2")  # a live run sends steps 2 and 3 two requests at a time
    with LocalServer(synthetic_responder) as live:
        argv = generate_argv(tmp_path / "live", seed_file, *flags, "--base-url", live.base_url, "--api-key", SECRET)
        assert cli.main(argv) == 0
    out = tmp_path / "batch"
    with BatchStandin(synthetic_responder, require_api_key=SECRET) as srv:
        assert run_cli(srv, *generate_argv(out, seed_file, *flags, "--batch-api")) == 0
        rounds = json.loads((out / "manifest.json").read_text())["counts"]["bootstrap"]["rounds"]
        assert len(srv.created) == rounds + 2 and max(srv.submissions.values()) == 1
    assert derived_files(out) == derived_files(tmp_path / "live")


def test_family_methods_send_one_batch_per_stage(tmp_path, monkeypatch):
    sends = []
    real = MethodRunner._send
    monkeypatch.setattr(MethodRunner, "_send", lambda self, stage, missing: (sends.append(stage),
                                                                              real(self, stage, missing))[1])
    extra = ("--num-examples", "8", "--concurrency", "1")
    with LocalServer(respond) as live:
        assert cli.main(method_argv("unnatural", tmp_path / "live", live.base_url, *extra)) == 0
    sends.clear()
    with BatchStandin(respond, require_api_key=METHOD_SECRET) as srv:
        assert cli.main(method_argv("unnatural", tmp_path / "batch", srv.base_url, *extra, "--batch-api")) == 0
        assert sends and len(srv.created) == len(sends)  # not one a --concurrency chunk
        assert max(srv.submissions.values()) == 1
    assert method_files(tmp_path / "batch", "paraphrases.jsonl") == method_files(tmp_path / "live", "paraphrases.jsonl")
