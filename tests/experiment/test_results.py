"""results.json and report.md built from recorded stage outputs alone, numbers checkable by hand:
the Table 3 layout with the paper's rows labelled, Figure 6's shares, Figure 7's sweep points."""
from __future__ import annotations

import json
import textwrap

from selfinstruct.evaluation.experiment.config import load_config
from selfinstruct.evaluation.experiment.plan import plan
from selfinstruct.evaluation.experiment.results import write_results
from selfinstruct.generation.jsonl import write_json

CONFIG = """\
    name: recorded
    data: {run_dir: run}
    base_model: {name: Base, model: base-m}
    finetune: {flags: {max-steps: 1}}
    sweep: [2, all]
    evaluations:
      superni: {data_dir: ni, max_instances: 5}
      user_oriented:
        judge: {model: j}
    """


def _stage(root, name, status="complete", seconds=1.5, files=None):
    folder = root / "stages" / name
    write_json(folder / "stage.json", {"name": name, "status": status, "seconds": seconds, "hash": name})
    for rel, obj in (files or {}).items():
        write_json(folder / rel, obj)


def _metrics(rouge, qa, title):
    return {"rougeL": rouge, "exact_match": 0.0, "count": 10, "missing": 0,
            "per_category": {"question_answering": {"rougeL": qa, "exact_match": 0.0, "count": 5},
                             "title_generation": {"rougeL": title, "exact_match": 0.0, "count": 5}}}


def test_results_from_recorded_stages(tmp_path, tiny_run, tiny_superni):
    (tmp_path / "exp.yaml").write_text(textwrap.dedent(CONFIG))
    steps = plan(load_config(tmp_path / "exp.yaml"))
    root = tmp_path / "exp"
    _stage(root, "superni-base", files={"out/metrics.json": _metrics(10.0, 12.0, 8.0)})
    _stage(root, "superni-tuned", files={"out/metrics.json": _metrics(30.0, 40.0, 20.0)})
    _stage(root, "superni-tuned-2", files={"out/metrics.json": _metrics(20.0, 25.0, 15.0)})
    _stage(root, "uo-report", files={"out/summary.json": {
        "Base": {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25, "unrated": 0},
        "Base + Self-Instruct": {"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.0, "unrated": 1}}})
    _stage(root, "uo-judge", status="running", seconds=None)
    names = [s.name for s in steps.stages]
    results = write_results(root, steps, names, name="recorded")

    by_label = {m["label"]: m for m in results["models"]}
    assert by_label["Base"]["superni"]["per_category"] == {"question_answering": 12.0, "title_generation": 8.0}
    assert by_label["Base + Self-Instruct (2)"]["superni"]["rougeL"] == 20.0
    assert by_label["Base + Self-Instruct"]["user_oriented"]["A"] == 0.5
    assert by_label["Base + Self-Instruct (2)"]["user_oriented"] is None  # not judged
    # The sweep: 2 instructions, then all 5 of the run.
    assert [(p["size"], p["instructions"], p["superni_rougeL"]) for p in results["sweep"]] == [(2, 2, 20.0),
                                                                                              ("all", 5, 30.0)]
    assert results["stages"]["uo-judge"]["status"] == "running"
    assert results["stages"]["finetune"]["status"] == "pending"
    assert results["figures"] == {"user_oriented": "user_oriented.png", "sweep": "sweep.png"}
    assert all((root / f).stat().st_size > 0 for f in results["figures"].values())
    assert json.loads((root / "results.json").read_text())["sweep"] == results["sweep"]

    report = (root / "report.md").read_text()
    assert "| model | ROUGE-L | question answering | title generation |" in report
    assert "| Base | 10.00 | 12.00 | 8.00 |" in report
    assert "| Base + Self-Instruct | 30.00 | 40.00 | 20.00 |" in report
    assert "| _published: GPT3 vanilla (davinci) (175B)_ | _6.8_ | – | – |" in report
    assert "**not comparable**" in report
    assert "| Base + Self-Instruct | 50.0% | 50.0% | 0.0% | 0.0% | 1 |" in report
    assert "| 2 | 2 | 20.00 | – |" in report and "| all | 5 | 30.00 | 50.0% |" in report
    assert "| superni-base | complete | 1.5 |" in report and "| finetune | pending | – |" in report
