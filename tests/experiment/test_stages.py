"""Stage skipping by hash: a finished stage with the same inputs is skipped, a changed flag or
input file reruns that stage and everything downstream, a killed stage resumes in place."""
from __future__ import annotations

import json

import pytest

from selfinstruct.evaluation.experiment.stages import Stage, redact_argv, run_stages, stage_hashes
from selfinstruct.generation.errors import RunStopped


class Recorder:
    """Stands in for the subprocess: records which stages ran, can fail one."""

    def __init__(self, fail: str | None = None) -> None:
        self.ran: list[str] = []
        self.fail = fail

    def __call__(self, argv, cwd):
        name = argv[3]  # cli_argv puts the stage's own arguments after `python -c CODE`
        self.ran.append(name)
        return 7 if name == self.fail else 0


def _stages(data_file, b_flag="1"):
    return [Stage("a", ["a", "--in", str(data_file)], inputs=[data_file]),
            Stage("b", ["b", "--x", b_flag], after=["a"]),
            Stage("c", ["c"], after=["b"]),
            Stage("other", ["other"])]


def test_skip_rerun_on_change_and_downstream(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("v1")
    root = tmp_path / "exp"
    rec = Recorder()
    run_stages(_stages(data), root, runner=rec)
    assert rec.ran == ["a", "b", "c", "other"]
    rec.ran.clear()
    outcomes = run_stages(_stages(data), root, runner=rec)
    assert rec.ran == [] and {o.status for o in outcomes} == {"skipped"}
    run_stages(_stages(data, b_flag="2"), root, runner=rec)  # a flag of b: b and c only
    assert rec.ran == ["b", "c"]
    rec.ran.clear()
    data.write_text("v2")  # a's input content: a, b, c (not the unrelated stage)
    run_stages(_stages(data, b_flag="2"), root, runner=rec)
    assert rec.ran == ["a", "b", "c"]
    record = json.loads((root / "stages" / "a" / "stage.json").read_text())
    assert record["status"] == "complete" and record["exit_code"] == 0 and record["seconds"] >= 0


def test_failure_stops_then_resumes_in_place_and_stale_outputs_are_cleared(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("v1")
    root = tmp_path / "exp"
    with pytest.raises(RunStopped, match="stage b failed"):
        run_stages(_stages(data), root, runner=Recorder(fail="b"))
    assert json.loads((root / "stages" / "b" / "stage.json").read_text())["status"] == "failed"
    assert not (root / "stages" / "c" / "stage.json").exists()
    partial = root / "stages" / "b" / "partial.jsonl"  # what the failed command had written
    partial.write_text("half")
    rec = Recorder()
    run_stages(_stages(data), root, runner=rec)
    assert rec.ran == ["b", "c", "other"] and partial.exists()  # same hash: the command resumes its own work
    run_stages(_stages(data, b_flag="9"), root, runner=rec)
    assert not partial.exists()  # another hash: stale outputs go before the stage runs again


def test_secrets_never_reach_hash_or_record(tmp_path):
    args = ["evaluate", "--judge-api-key", "sk-1", "--api-key", "sk-2", "--model", "m"]
    assert redact_argv(args) == ["evaluate", "--judge-api-key", "***", "--api-key", "***", "--model", "m"]
    other = ["evaluate", "--judge-api-key", "sk-other", "--api-key", "sk-x", "--model", "m"]
    assert stage_hashes([Stage("s", args)]) == stage_hashes([Stage("s", other)])
    run_stages([Stage("s", args)], tmp_path, runner=Recorder())
    assert "sk-1" not in (tmp_path / "stages" / "s" / "stage.json").read_text()


def test_action_stage_runs_in_process(tmp_path):
    seen = []
    stage = Stage("cut", ["cut", "3"], action=lambda folder: seen.append(folder.name))
    run_stages([stage], tmp_path, runner=Recorder())
    run_stages([stage], tmp_path, runner=Recorder())
    assert seen == ["cut"]
