"""The `datasets` builder used directly: every config, its version and features, the
instruction-hash validation split, bad input, and the paper's data downloaded over real HTTP
from local servers (../shared files, plus synthetic files for the ones shared/ lacks)."""
from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

import selfinstruct_dataset as sd
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.publish import records, splits
from selfinstruct.generation.publish.schema import CONFIGS, UPSTREAM_BASE_URL_ENV, features


@pytest.fixture(scope="module")
def synthetic_upstream(tmp_path_factory) -> Path:
    """The finetuning files upstream published but shared/ could not obtain, laid out like upstream."""
    root = tmp_path_factory.mktemp("upstream-mirror")
    sizes = {"data/finetuning/self_instruct_221203/gpt3_finetuning_data.jsonl": 7,
             "data/finetuning/superni_50k/superni_training_set_50k.jsonl": 5,
             "data/finetuning/superni_50k/superni_test_set.jsonl": 3,
             "data/finetuning/t0_train_50k/t0_train_50k.jsonl": 4}
    for rel, n in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps({"prompt": f"{rel.split('/')[2]} task {i}\nInput: x{i}\nOutput:",
                                            "completion": f" y{i}<|endoftext|>"}) + "\n" for i in range(n)))
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hf-cache"))


@pytest.fixture(scope="module")
def ours(run_dir, cache):
    return {name: sd.load(name, run_dir, cache_dir=cache) for name in ("instances", "instructions", "finetuning",
                                                                       "messages")}


def test_every_config_has_its_own_version_description_and_features(run_dir, cache):
    assert [c.name for c in sd.SelfInstruct.BUILDER_CONFIGS] == list(CONFIGS)
    for name in ("instances", "instructions", "upstream_human_eval"):
        builder = sd.SelfInstruct(config_name=name, data_dir=str(run_dir), cache_dir=cache)
        assert builder.info.version == datasets.Version(CONFIGS[name].version)
        assert builder.info.description == CONFIGS[name].description
        assert builder.info.features == features(name)
        assert "2212.10560" in builder.info.citation


def test_run_configs_read_the_run(ours, run_dir):
    inst = ours["instances"]["train"]
    assert list(ours["instances"]) == ["train"] and len(inst) == 29
    assert inst.features == features("instances")
    first = inst[0]
    assert first["instruction_id"] == "instruction_0" and first["is_classification"] is True
    assert first["input"] == "The plot was thin but the acting carried it." and first["output"] == "Positive"
    ins = ours["instructions"]["train"]
    assert len(ins) == 24 and ins[1]["id"] == "instruction_1" and ins[1]["is_classification"] is False
    sims = ins[1]["most_similar"]
    assert len(sims) == 9 and sims[0]["score"] >= sims[-1]["score"] and set(sims[0]) == {"instruction", "score"}
    ft = ours["finetuning"]["train"]
    assert len(ft) == 29 and all(c.endswith("<|endoftext|>") for c in ft["completion"])
    msg = ours["messages"]["train"][0]["messages"]
    assert [m["role"] for m in msg] == ["user", "assistant"] and msg[1]["content"] == "Positive"


def test_upstream_format_folder_gets_derived_ids_and_labels(upstream_run, cache):
    inst = sd.load("instances", upstream_run, cache_dir=cache)["train"]
    assert len(inst) == 29
    assert inst[0]["instruction_id"] == records.derived_instruction_id(inst[0]["instruction"])
    assert inst[0]["is_classification"] is True and inst[2]["is_classification"] is False
    ins = sd.load("instructions", upstream_run, cache_dir=cache)["train"]
    assert set(ins["id"]) == set(inst["instruction_id"])
    msgs = sd.load("messages", upstream_run, cache_dir=cache)["train"]  # built from the instances
    assert msgs[0]["messages"][0]["content"] == inst[0]["instruction"] + "\n\n" + inst[0]["input"]
    ft = sd.load("finetuning", upstream_run, cache_dir=cache)["train"]  # gpt3_finetuning_data_<N>.jsonl
    assert len(ft) == 29


def test_validation_split_never_splits_an_instruction(run_dir, cache):
    by_config = {name: sd.load(name, run_dir, cache_dir=cache, validation_size=0.3)
                 for name in ("instances", "instructions", "finetuning", "messages")}
    inst = by_config["instances"]
    val = set(inst["validation"]["instruction"])
    assert val and not val & set(inst["train"]["instruction"])
    assert len(inst["train"]) + len(inst["validation"]) == 29
    assert set(by_config["instructions"]["validation"]["instruction"]) == val
    # Prompt/completion and chat rows follow their instruction, whatever the template.
    matcher = splits.InstructionMatcher(val)
    for split in ("train", "validation"):
        for prompt in by_config["finetuning"][split]["prompt"]:
            assert (matcher.find(prompt) is not None) == (split == "validation"), prompt
    assert len(by_config["messages"]["validation"]) == len(inst["validation"])
    again = sd.load("instances", run_dir, cache_dir=cache, validation_size=0.3)
    assert again["validation"]["instruction"] == inst["validation"]["instruction"]


def test_a_grown_run_is_not_served_from_a_stale_cache(make_run, tmp_path, cache):
    run = make_run(tmp_path / "run")
    assert len(sd.load("instances", run, cache_dir=cache)["train"]) == 29
    with (run / "all_generated_instances.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"instruction": "Name a colour.", "input": "", "output": "Blue"}) + "\n")
    grown = sd.load("instances", run, cache_dir=cache)["train"]
    assert len(grown) == 30 and grown[-1]["instruction_id"] == records.derived_instruction_id("Name a colour.")


def test_missing_file_is_named(tmp_path, cache):
    (tmp_path / "machine_generated_instructions.jsonl").write_text("")
    with pytest.raises(InputError) as info:
        sd.load("instances", tmp_path, cache_dir=cache)
    assert "all_generated_instances.jsonl" in str(info.value)
    with pytest.raises(InputError, match="finetuning_prompt_completion.jsonl"):
        sd.load("finetuning", tmp_path, cache_dir=cache)
    with pytest.raises(InputError, match="data_dir"):
        sd.load("instances", None, cache_dir=cache)
    with pytest.raises(InputError, match="validation_size"):
        sd.load("instances", tmp_path, cache_dir=cache, validation_size=1.5)
    with pytest.raises(InputError, match="unknown config"):
        sd.load("nope", tmp_path)


def test_seed_tasks_from_a_file_and_the_packaged_set(upstream_seed_file, cache):
    dd = sd.load("seed_tasks", upstream_seed_file, cache_dir=cache)
    train = dd["train"]
    assert len(train) == 175 and sum(train["is_classification"]) == 26
    assert train.features == features("seed_tasks") and train[0]["id"] == "seed_task_0"
    split = sd.load("seed_tasks", upstream_seed_file, cache_dir=cache, validation_size=0.2)
    assert len(split["train"]) + len(split["validation"]) == 175 and len(split["validation"]) > 10
    from selfinstruct.generation.seeds import default_seed_path

    if not default_seed_path().is_file():
        pytest.skip("the packaged seed file has not landed yet")
    packaged = sd.load("seed_tasks", cache_dir=cache)["train"]
    assert packaged.features == features("seed_tasks") and len(packaged) > 0


def test_upstream_human_eval_downloads_from_shared(static_server, shared_dir, cache, user_oriented_file):
    base = static_server(shared_dir / "upstream" / "self-instruct")
    dd = sd.load("upstream_human_eval", cache_dir=cache, base_url=base)
    rows = dd["train"]
    assert len(rows) == 252 and rows.features == features("upstream_human_eval")
    first = json.loads(user_oriented_file.read_text(encoding="utf-8").splitlines()[0])
    assert rows[0]["id"] == first["id"] and rows[0]["instances"] == first["instances"]
    assert sum(r["instances"][0]["input"] == "" for r in rows) == 44


def test_upstream_finetuning_configs_download(static_server, synthetic_upstream, cache, monkeypatch):
    base = static_server(synthetic_upstream)
    monkeypatch.setenv(UPSTREAM_BASE_URL_ENV, base)  # the environment variable route
    si = sd.load("upstream_self_instruct", cache_dir=cache)
    assert list(si) == ["train"] and len(si["train"]) == 7
    assert si["train"][0] == {"prompt": "self_instruct_221203 task 0\nInput: x0\nOutput:",
                              "completion": " y0<|endoftext|>"}
    sni = sd.load("upstream_super_natural_instructions", cache_dir=cache)
    assert {k: len(v) for k, v in sni.items()} == {"train": 5, "test": 3}
    assert len(sd.load("upstream_p3", cache_dir=cache)["train"]) == 4
    with pytest.raises(InputError, match="fixed splits"):
        sd.load("upstream_p3", cache_dir=cache, validation_size=0.1)


def test_upstream_download_failure_is_reported(static_server, tmp_path, cache):
    base = static_server(tmp_path)  # an empty mirror: every file is a 404
    with pytest.raises(Exception) as info:
        sd.load("upstream_p3", cache_dir=cache, base_url=base)
    assert "t0_train_50k.jsonl" in str(info.value)
