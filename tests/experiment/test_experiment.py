"""`selfinstruct experiment`: config errors as one line with file, line and field; a whole
experiment through the real CLI against the scripted server, skipped when rerun, partly rerun
when a setting changes; the data-size subsets."""
from __future__ import annotations

import json
import textwrap

import pytest

from selfinstruct.evaluation.experiment.plan import write_subset
from selfinstruct.generation.cli import main
from selfinstruct.generation.jsonl import read_jsonl
from doubles.localserver import LocalServer

SECRET = "sk-experiment-secret"


def _write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """\
    name: t
    data:
      run_dir: run
    base_model:
      model: base-m
    finetune:
      flags:
        max-steps: 2
    evaluations:
      superni:
        data_dir: ni
        max_instances: 2
    """


@pytest.mark.parametrize("edit, where, message", [
    (lambda t: t.replace("evaluations:", "evalutions:"), ":9: evalutions: unknown field", "known: name, data"),
    (lambda t: t.replace("  run_dir: run\n", "  run_dir: run\n  generate: {num-instructions: 3}\n"), ":2: data:",
     "exactly one of run_dir"),
    (lambda t: t.replace("max_instances: 2", "max_instances: ten"), ":12: evaluations.superni.max_instances:",
     "must be int, not 'ten'"),
    (lambda t: t.replace("max_instances: 2", "max_instances: 0"), ":12: evaluations.superni.max_instances:",
     "must be at least 1"),
    (lambda t: t.replace("max-steps: 2", "api-key: sk-1"), ":8: finetune.flags.api-key:", "no API keys"),
    (lambda t: t.replace("max-steps: 2", "out: elsewhere"), ":8: finetune.flags.out:", "set by the experiment"),
    (lambda t: t + "sweep: [100, 0]\n", ":13: sweep[1]:", "a number of instructions or `all`"),
    (lambda t: t.replace("run_dir: run", "run_dir: nowhere"), ":3: data.run_dir:", "no such run directory"),
    (lambda t: t.replace("data_dir: ni", "data_dir: nowhere"), ":11: evaluations.superni.data_dir:", "no tasks/ folder"),
    (lambda t: t.replace("model: base-m", "model: [a, b"), ":6:", "not valid YAML"),
    (lambda t: t.replace("max-steps: 2", "max-stepz: 2"), ": finetune.flags: stage finetune:",
     "unrecognized arguments: --max-stepz 2"),
])
def test_config_errors_are_one_line(tmp_path, tiny_run, tiny_superni, capsys, edit, where, message):
    path = _write(tmp_path, edit(textwrap.dedent(GOOD)))
    assert main(["experiment", str(path), "--out", str(tmp_path / "exp"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}") and where in err and message in err, err


def test_dry_run_lists_stages_in_order(tmp_path, tiny_run, tiny_superni, capsys):
    path = _write(tmp_path, textwrap.dedent(GOOD) + "sweep: [2, all]\n")
    assert main(["experiment", str(path), "--out", str(tmp_path / "exp"), "--dry-run"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["superni-base", "subset-2", "finetune-2", "finetune", "superni-tuned-2", "superni-tuned"]


def test_subset_keeps_first_instructions_and_seeds(tmp_path, tiny_run):
    write_subset(tiny_run, 2, tmp_path / "cut")
    alpaca = read_jsonl(tmp_path / "cut" / "run" / "finetuning" / "finetuning_alpaca.jsonl")
    assert [r["id"] for r in alpaca] == ["seed_task_0", "instruction_0", "instruction_0", "instruction_1"]
    pc = read_jsonl(tmp_path / "cut" / "run" / "finetuning" / "finetuning_prompt_completion.jsonl")
    assert [r["prompt"] for r in pc] == ["p0", "p1", "p2", "p3"]  # the same rows of every file


def responder(body):
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages") or []) or str(body.get("prompt"))
    if "[Response to grade]" in text:
        return "Fine. [[A]]" if "from base-m" in text else "Weak. [[C]]"
    if "Answer each question with yes or no" in text:
        return "1. yes\n2. yes\n3. no"
    if "input 0" in text:
        return "gold 0"  # SuperNI: one right answer out of two per task
    return f"from {body['model']}"


EXPERIMENT = """\
    name: served
    data:
      run_dir: {run}
    base_model:
      name: Base
      model: base-m
      flags: {{base-url: "{url}", max-retries: 0}}
    compare:
      - name: Other
        model: other-m
        flags: {{base-url: "{url}"}}
    evaluations:
      superni:
        data_dir: {ni}
        max_instances: {n}
        flags: {{max-new-tokens: 8, no-progress: true}}
      user_oriented:
        limit: 2
        tasks_file: {tf}
        judge: {{model: judge-m, flags: {{base-url: "{url}"}}}}
      data_quality:
        sample: 3
        judge: {{model: judge-m, flags: {{base-url: "{url}"}}}}
    """


def test_experiment_through_the_cli(tmp_path, tiny_run, tiny_superni, user_oriented_file, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "exp"
    with LocalServer(responder) as server:
        def config(n):
            return _write(tmp_path, EXPERIMENT.format(run=tiny_run, url=server.base_url, ni=tiny_superni, n=n,
                                                      tf=user_oriented_file))

        assert main(["experiment", str(config(2)), "--out", str(out), "--no-progress"]) == 0
        results = json.loads((out / "results.json").read_text())
        stages = results["stages"]
        assert list(stages) == ["data-quality", "superni-base", "superni-cmp-Other", "uo-generate-base",
                                "uo-generate-cmp-Other", "uo-judge", "uo-report"]
        assert {s["status"] for s in stages.values()} == {"complete"}
        base, other = results["models"]
        # 2 tasks x 2 instances; base answers instance 0 of each right ("gold 0"), so half score 100.
        assert base["superni"]["count"] == 4 and base["superni"]["rougeL"] == pytest.approx(50.0)
        assert set(base["superni"]["per_category"]) == {"question_answering", "title_generation"}
        assert base["user_oriented"]["A"] == 1.0 and other["user_oriented"]["C"] == 1.0
        assert results["data_quality"]["shares"]["llm:judge-m"]["output"]["yes"] == 0
        report = (out / "report.md").read_text()
        assert "| Base | 50.00 |" in report and "_published: GPT3 vanilla (davinci)" in report
        assert (out / "user_oriented.png").stat().st_size > 0

        served = len(server.received)
        assert main(["experiment", str(config(2)), "--out", str(out), "--no-progress"]) == 0
        assert len(server.received) == served  # everything skipped: nothing asked again
        assert "0 stages run, 7 already done" in capsys.readouterr().out

        assert main(["experiment", str(config(3)), "--out", str(out), "--no-progress"]) == 0
        again = json.loads((out / "results.json").read_text())
        assert again["models"][0]["superni"]["count"] == 6
        reran = [n for n, s in again["stages"].items() if s["hash"] != stages[n]["hash"]]
        assert reran == ["superni-base", "superni-cmp-Other"]
    for f in out.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".md"):
            assert SECRET not in f.read_text(), f
