"""Runs of the Unnatural Instructions and Evol-Instruct generators as datasets: the shared configs
plus `paraphrases` / `lineage`, a folder `load_dataset` reads back row for row, a card that
credits the right paper, a validation split that keeps near-copies of a task together, and strict
readers for the method files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

import selfinstruct_dataset as sd
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.publish import records
from selfinstruct.generation.publish.card import parse_front_matter
from selfinstruct.generation.publish.schema import features
from selfinstruct.generation.publish.stats import compute_stats, write_plots

from .method_runs import lineage_rows, write_evol_run, write_unnatural_run

SHARED = ["instances", "instructions", "finetuning", "messages"]
EXPECTED = {"unnatural": SHARED + ["paraphrases"], "evol": SHARED + ["lineage"]}
PAPERS = {"unnatural": "https://arxiv.org/abs/2212.09689", "evol": "https://arxiv.org/abs/2304.12244"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("method-runs")
    return {"unnatural": write_unnatural_run(root / "unnatural-run"), "evol": write_evol_run(root / "evol-run")}


@pytest.fixture(scope="module")
def folders(runs, tmp_path_factory, seed_file) -> dict[str, Path]:
    out = {}
    for method, run in runs.items():
        out[method] = tmp_path_factory.mktemp("built") / method
        assert main(["dataset", "build", str(run), "--out", str(out[method]), "--seeds", str(seed_file),
                     "--repo-id", "acme/demo", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf-cache"))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("method", ["unnatural", "evol"])
def test_every_config_round_trips_through_the_folder(folders, runs, tmp_path, method):
    meta = parse_front_matter((folders[method] / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in meta["configs"]] == EXPECTED[method]
    for config in EXPECTED[method]:
        ds = load_dataset(str(folders[method]), config, cache_dir=str(tmp_path / config))
        assert list(ds) == ["train"] and ds["train"].features == features(config)
        assert ds["train"].to_list() == list(records.RUN_READERS[config](runs[method])), config


def test_method_rows_are_the_files_rows(folders, runs, tmp_path):
    """The method configs carry every field of their file unchanged, in file order."""
    for method, config, rel in [("unnatural", "paraphrases", "paraphrases.jsonl"), ("evol", "lineage", "lineage.jsonl")]:
        ds = load_dataset(str(folders[method]), config, cache_dir=str(tmp_path / config))["train"]
        assert ds.to_list() == _jsonl(runs[method] / rel)
    instances = load_dataset(str(folders["unnatural"]), "instances", cache_dir=str(tmp_path / "i"))["train"]
    assert len(instances) == 20 and set(instances["is_classification"]) == {None}
    assert {f"paraphrase_{n}" for n in range(8)} <= set(instances["instruction_id"])


def test_self_instruct_folder_has_no_method_configs(built_folder, run_dir):
    meta = parse_front_matter((built_folder / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in meta["configs"]] == SHARED
    for config, reader in [("paraphrases", records.read_paraphrases), ("lineage", records.read_lineage)]:
        assert not (built_folder / config).exists()
        with pytest.raises(records.MissingInput, match=config.rstrip("s")):
            list(reader(run_dir))


@pytest.mark.parametrize("method", ["unnatural", "evol"])
def test_card_names_the_method_and_cites_its_paper(folders, built_folder, method):
    card = (folders[method] / "README.md").read_text(encoding="utf-8")
    other = "evol" if method == "unnatural" else "unnatural"
    title = {"unnatural": "Unnatural Instructions", "evol": "Evol-Instruct"}[method]
    assert f"made with the {title} method" in card and f"[paper]({PAPERS[method]})" in card
    assert "made with the Self-Instruct method" not in card and PAPERS[other] not in card
    citation = card[card.index("## Citation"):]
    assert PAPERS[method] in citation and "arXiv:2212.10560" in citation  # method paper, then Self-Instruct
    assert citation.index(PAPERS[method]) < citation.index("2212.10560")
    assert "54%" not in card  # that measurement is the Self-Instruct paper's
    assert f"pretty_name: '{title} data: {method}-run'" in card or f"pretty_name: {title} data: {method}-run" in card
    own, absent = EXPECTED[method][-1], EXPECTED[other][-1]
    assert f"### `{own}`" in card and f"### `{absent}`" not in card
    assert "| classification instructions | unknown |" in card
    assert "self-instruct" in parse_front_matter(card)["tags"]
    si = (built_folder / "README.md").read_text(encoding="utf-8")
    assert "made with the Self-Instruct method" in si and "2212.09689" not in si and "2304.12244" not in si


def test_builder_credits_the_method(runs, run_dir, cache):
    for method, arxiv in [("unnatural", "2212.09689"), ("evol", "2304.12244")]:
        info = sd.SelfInstruct(config_name="instances", data_dir=str(runs[method]), cache_dir=cache).info
        assert arxiv in info.citation
    assert "2212.09689" not in sd.SelfInstruct(config_name="instances", data_dir=str(run_dir), cache_dir=cache).info.citation


def test_validation_split_keeps_a_paraphrase_with_its_source(runs, cache):
    run = runs["unnatural"]
    dd = {c: sd.load(c, run, cache_dir=cache, validation_size=0.5) for c in EXPECTED["unnatural"]}
    split_of_id = {i: s for s, d in dd["instances"].items() for i in d["instruction_id"]}
    assert set(split_of_id.values()) == {"train", "validation"}
    for split, d in dd["paraphrases"].items():
        for row in d:
            assert split_of_id[row["id"]] == split_of_id[row["source_id"]] == split, row
    for config in ("instructions", "messages"):
        for split, d in dd[config].items():
            assert all(split_of_id[i] == split for i in d["id"]), config
    for split, d in dd["finetuning"].items():
        assert len(d) == len(dd["instances"][split])


def test_validation_split_keeps_a_lineage_together(runs, cache):
    dd = {c: sd.load(c, runs["evol"], cache_dir=cache, validation_size=0.5) for c in EXPECTED["evol"]}
    root_of = {r["id"]: r["root_id"] for r in lineage_rows()}
    split_of_root: dict[str, set[str]] = {}
    for split, d in dd["lineage"].items():
        for row in d:
            split_of_root.setdefault(row["root_id"], set()).add(split)
    assert all(len(s) == 1 for s in split_of_root.values()) and len(split_of_root) == 6
    assert {next(iter(s)) for s in split_of_root.values()} == {"train", "validation"}
    for config in ("instances", "messages"):
        key = "instruction_id" if config == "instances" else "id"
        for split, d in dd[config].items():
            assert all(split_of_root[root_of[i]] == {split} for i in d[key]), config


def _rewrite(path: Path, line: int, **changes) -> None:
    rows = _jsonl(path)
    for key, value in changes.items():
        if value is ...:
            del rows[line - 1][key]
        else:
            rows[line - 1][key] = value
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("changes, field, message", [
    ({"operation": "shuffle"}, "operation", "unknown evolution 'shuffle'"),
    ({"epoch": 0}, "epoch", "from 1"),
    ({"epoch": True}, "epoch", "expected int, got bool"),
    ({"epoch": "2"}, "epoch", "expected int, got str"),
    ({"root_id": ...}, "root_id", "missing field"),
    ({"parent_instruction": 7}, "parent_instruction", "expected str"),
])
def test_bad_lineage_line_is_named(tmp_path, changes, field, message):
    run = write_evol_run(tmp_path / "evol")
    _rewrite(run / "lineage.jsonl", 3, **changes)
    with pytest.raises(InputError) as err:
        list(records.read_lineage(run))
    assert (Path(err.value.file).name, err.value.line, err.value.field) == ("lineage.jsonl", 3, field)
    assert message in err.value.message


@pytest.mark.parametrize("field", ["id", "source_id", "instruction", "source_instruction", "input", "output"])
def test_bad_paraphrase_line_is_named(tmp_path, field):
    run = write_unnatural_run(tmp_path / "unnatural")
    _rewrite(run / "paraphrases.jsonl", 2, **{field: ...})
    with pytest.raises(InputError) as err:
        list(records.read_paraphrases(run))
    assert (Path(err.value.file).name, err.value.line, err.value.field) == ("paraphrases.jsonl", 2, field)


def test_a_bad_method_file_fails_the_build(tmp_path, capsys):
    run = write_evol_run(tmp_path / "evol")
    _rewrite(run / "lineage.jsonl", 5, operation="mutate")
    assert main(["dataset", "build", str(run), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "lineage.jsonl:5: operation: unknown evolution 'mutate'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_method_file_skips_only_that_config(tmp_path, capsys):
    run = write_unnatural_run(tmp_path / "unnatural")
    (run / "paraphrases.jsonl").unlink()
    out = tmp_path / "out"
    assert main(["dataset", "build", str(run), "--out", str(out), "--no-progress"]) == 0
    assert "skipping config paraphrases" in capsys.readouterr().err
    meta = parse_front_matter((out / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in meta["configs"]] == SHARED


def test_unknown_method_is_refused(tmp_path, capsys):
    run = write_unnatural_run(tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["method"] = "alpaca"
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["dataset", "build", str(run), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "manifest.json: method: unknown generation method 'alpaca'" in err and "self-instruct" in err


def test_statistics_without_classification_labels(runs, tmp_path):
    """No classify step: every label is null and no `is_clf_or_not_*` file exists."""
    run = runs["evol"]
    assert not list(run.glob("is_clf_or_not_*"))
    rows = list(records.read_instances(run))
    kept = list(records.read_instructions(run))
    stats = compute_stats(rows, [r["instruction"] for r in kept], ["Write a poem."],
                          labels={r["instruction"]: r["is_classification"] for r in kept}, progress=False)
    assert stats.classification is None and stats.instructions == 10 and stats.instances == 10
    assert stats.empty_input == 10 and not stats.input_words
    assert set(write_plots(stats, tmp_path)) == {"instruction_length", "output_length", "rouge_to_seeds",
                                                  "leading_verbs"}
