"""Offline batch files for `vllm run-batch`: `--batch-files-only` writes request files and exits,
`--import-batch-output` goes on with the results, round by round, to the kept sets a live run
keeps. Bad result files are refused with one line and exit code 2, and nothing logged changes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder
from pipeline.conftest import derived_files
from selfinstruct.generation import cli
from selfinstruct.generation.lm.batch_ledger import Ledger

from .conftest import SECRET, generate_argv, read_jsonl


def _answer_new_files(srv, out: Path, results: list[Path]) -> None:
    """What the user does between two invocations: run each new request file through vLLM."""
    done = {p.name.replace("results-", "requests-") for p in results}
    for req in sorted((out / "batch_requests").glob("requests-*.jsonl")):
        if req.name not in done:
            target = out / req.name.replace("requests-", "results-")
            target.write_bytes(srv.answer_file(req.read_bytes()))
            results.append(target)


def _offline_until_complete(srv, out: Path, seed_file: Path, capsys, stop_after: int | None = None) -> list[Path]:
    results: list[Path] = []
    for k in range(200):
        extra = ("--batch-files-only",) + (("--import-batch-output", *map(str, results)) if results else ())
        assert cli.main(generate_argv(out, seed_file, *extra)) == 0
        if json.loads((out / "manifest.json").read_text()).get("status") == "complete":
            return results
        assert "vllm run-batch" in capsys.readouterr().err
        _answer_new_files(srv, out, results)
        if stop_after is not None and k + 1 >= stop_after:
            return results
    raise AssertionError("the offline run never completed")


def test_files_then_import_round_trip_keeps_what_a_live_run_keeps(tmp_path, standin, seed_file, capsys):
    with LocalServer(synthetic_responder) as live:
        assert cli.main(generate_argv(tmp_path / "live", seed_file, "--base-url", live.base_url,
                                      "--api-key", SECRET)) == 0
    out = tmp_path / "offline"
    _offline_until_complete(standin, out, seed_file, capsys)
    assert derived_files(out) == derived_files(tmp_path / "live")
    first = read_jsonl(next((out / "batch_requests").glob("*.jsonl")))[0]
    assert set(first) == {"custom_id", "method", "url", "body"} and first["url"] in ("/v1/completions",
                                                                                     "/v1/chat/completions")
    assert not standin.created  # nothing was ever submitted
    for p in out.rglob("*"):
        if p.is_file():
            assert SECRET not in p.read_text("utf-8"), p


@pytest.mark.parametrize("bad", ["not_json", "unknown_id", "other_run"])
def test_bad_result_files_exit_2_and_change_nothing(tmp_path, standin, seed_file, capsys, bad):
    out = tmp_path / "run"
    results = _offline_until_complete(standin, out, seed_file, capsys, stop_after=2)
    assert (out / "requests.jsonl").exists()
    logged = (out / "requests.jsonl").read_bytes()
    good = results[-1].read_text().splitlines()
    line = json.loads(good[0])
    tag = Ledger.open(out).tag
    if bad == "not_json":
        good.insert(1, '{"custom_id": "truncated')
    elif bad == "unknown_id":
        line["custom_id"] = f"{tag}-{'0' * 20}-0"
        good.append(json.dumps(line))
    else:
        line["custom_id"] = "deadbeef" + line["custom_id"][len(tag):]
        good.append(json.dumps(line))
    results[-1].write_text("\n".join(good) + "\n")
    capsys.readouterr()
    code = cli.main(generate_argv(out, seed_file, "--import-batch-output", *map(str, results)))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"error: {results[-1]}:")
    assert {"not_json": "not JSON", "unknown_id": "unknown custom_id", "other_run": "another run"}[bad] in err
    assert (out / "requests.jsonl").read_bytes() == logged
