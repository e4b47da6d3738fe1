"""End to end: `selfinstruct generate` against a real local OpenAI-compatible server."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.generation import cli
from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder

from .conftest import SECRET, derived_files, read_jsonl


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


@pytest.mark.parametrize("profile", ["default", "upstream"])
def test_full_run_writes_the_run_directory(tmp_path, generate, server, profile):
    out = tmp_path / profile
    assert generate(out, "--profile", profile, "--concurrency", "8", num=25) == 0
    m = _manifest(out)
    assert m["status"] == "complete" and m["profile"] == profile
    kept = read_jsonl(out / "machine_generated_instructions.jsonl")
    if profile == "default":
        assert len(kept) == 25  # trimmed to the target
        assert [k["id"] for k in kept] == [f"instruction_{i}" for i in range(25)]
        clf_file = out / "is_clf_or_not_local-test-model_template_1.jsonl"
    else:
        assert len(kept) >= 25  # upstream keeps the whole last request
        assert {k["request_idx"] for k in kept} <= set(range(m["counts"]["bootstrap"]["rounds"]))
        assert all(k["instruction"][1:] == k["instruction"][1:].lower() for k in kept)  # capitalize quirk
        clf_file = out / "is_clf_or_not_davinci_template_1.jsonl"
    for k in kept:
        assert set(k) >= {"instruction", "most_similar", "avg_similarity_score", "metadata", "request_idx", "id"}
        assert k["metadata"]["response"]["choices"][0]["text"] and len(k["most_similar"]) == 10
        assert list(k["most_similar"].values()) == sorted(k["most_similar"].values(), reverse=True)
    labels = read_jsonl(clf_file)
    assert [r["instruction"] for r in labels] == [k["instruction"] for k in kept]
    assert any(r["label"] for r in labels) and not all(r["label"] for r in labels)
    inst = read_jsonl(out / "machine_generated_instances.jsonl")
    assert [r["instruction"] for r in inst] == [k["instruction"] for k in kept]
    assert all(set(r) >= {"raw_instances", "instance_metadata", "instruction_metadata", "most_similar",
                          "avg_similarity_score"} for r in inst)
    instances = read_jsonl(out / "all_generated_instances.jsonl")
    assert instances and all(set(r) == {"instruction", "input", "output", "id", "is_classification"} for r in instances)
    per_task: dict[str, int] = {}
    for r in instances:
        per_task[r["id"]] = per_task.get(r["id"], 0) + 1
    assert max(per_task.values()) <= 5
    pc = read_jsonl(out / "finetuning" / "finetuning_prompt_completion.jsonl")
    assert (out / "finetuning" / f"gpt3_finetuning_data_{len(pc)}.jsonl").exists()
    assert len(pc) > len(instances)  # seed instances appended
    assert all(r["completion"].endswith("<|endoftext|>") for r in pc)
    assert read_jsonl(out / "finetuning" / "finetuning_messages.jsonl")[0]["messages"][1]["role"] == "assistant"
    assert set(read_jsonl(out / "finetuning" / "finetuning_alpaca.jsonl")[0]) == {"instruction", "input", "output", "id"}
    rejected = read_jsonl(out / "rejected.jsonl")
    rules = {r["rule"] for r in rejected}
    assert "rouge_l" in rules and "blocked_word" in rules
    assert all("score" in r and "nearest" in r for r in rejected if r["rule"] == "rouge_l")
    requests = read_jsonl(out / "requests.jsonl")
    assert {r["step"] for r in requests} == {"bootstrap", "classify", "instances"}
    assert m["counts"]["bootstrap"]["kept"] == len(kept)
    assert m["usage"]["prompt_tokens"] > 0 and m["settings"]["api_key_set"] is True
    # secrets never reach a file
    for p in out.rglob("*"):
        if p.is_file():
            assert SECRET not in p.read_text("utf-8"), p


def test_rerun_resumes_without_new_requests(tmp_path, generate, server):
    out = tmp_path / "run"
    assert generate(out, num=12) == 0
    before = derived_files(out)
    n = len(server.received)
    assert generate(out, num=12) == 0
    assert len(server.received) == n
    assert derived_files(out) == before
    # asking for more continues the same run
    assert generate(out, num=20) == 0
    assert len(read_jsonl(out / "machine_generated_instructions.jsonl")) == 20


def test_changed_settings_are_refused_unless_forced(tmp_path, generate, capsys):
    out = tmp_path / "run"
    assert generate(out, num=8) == 0
    capsys.readouterr()
    assert generate(out, "--threshold", "0.5", num=8) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "manifest.json" in err and "threshold" in err and "--force" in err
    assert generate(out, "--threshold", "0.5", "--force", num=8) == 0


def test_budget_stops_after_the_round_in_flight(tmp_path, generate):
    out = tmp_path / "run"
    assert generate(out, "--max-tokens", "3000", "--concurrency", "4", num=200) == 0
    m = _manifest(out)
    assert m["status"] == "stopped_budget"
    used = m["usage"]["prompt_tokens"] + m["usage"]["completion_tokens"]
    assert 3000 <= used < 3000 + 4 * 1500  # went over by at most one round
    kept = len(read_jsonl(out / "machine_generated_instructions.jsonl"))
    assert 0 < kept < 200
    # more budget: resumes where it stopped
    assert generate(out, "--max-tokens", "100000000", "--concurrency", "4", num=30) == 0
    assert _manifest(out)["status"] == "complete"


def test_single_steps_equal_the_full_run(tmp_path, generate):
    full, steps = tmp_path / "full", tmp_path / "steps"
    assert generate(full, num=10) == 0
    assert generate(steps, step="classify", num=None) == 2  # no run there yet
    assert generate(steps, step="bootstrap", num=None) == 2  # a new run needs --num-instructions
    for step in ("bootstrap", "classify", "instances", "finetune"):
        assert generate(steps, step=step, num=10 if step == "bootstrap" else None) == 0
    assert derived_files(steps) == derived_files(full)


def test_chat_framing_end_to_end(tmp_path, generate, server):
    out = tmp_path / "chat"
    assert generate(out, "--framing", "chat", "--api", "chat", num=10) == 0
    req = read_jsonl(out / "requests.jsonl")[0]
    assert isinstance(req["prompt"], list) and req["prompt"][0]["role"] == "system"
    assert len(read_jsonl(out / "machine_generated_instructions.jsonl")) == 10
    assert read_jsonl(out / "all_generated_instances.jsonl")


def test_failed_requests_are_recorded_and_retried_in_default(tmp_path, seed_file):
    out = tmp_path / "run"
    with LocalServer(synthetic_responder, fault_rate=0.3, faults=["500"], seed=3) as srv:
        argv = ["generate", "--out", str(out), "--num-instructions", "10", "--model", "local-test-model",
                "--base-url", srv.base_url, "--api-key", SECRET, "--seed-tasks", str(seed_file),
                "--max-retries", "0", "--no-progress", "--no-summary"]
        assert cli.main(argv) == 0
        m = _manifest(out)
        assert m["failures"] > 0
        failed = [r for r in read_jsonl(out / "requests.jsonl") if r["response"] is None]
        assert failed and all(r["error"] for r in failed)
        srv.fault_rate = 0.0
        for _ in range(3):
            if _manifest(out)["status"] == "complete":
                break
            assert cli.main(argv) == 0
        assert _manifest(out)["status"] == "complete"
        labels = read_jsonl(next(out.glob("is_clf_or_not_*.jsonl")))
        assert len(labels) == 10


def test_request_max_tokens_caps_every_request(tmp_path, generate):
    out = tmp_path / "capped"
    assert generate(out, "--request-max-tokens", "40", num=6) == 0
    params = [r["params"]["max_tokens"] for r in read_jsonl(out / "requests.jsonl")]
    assert max(params) == 40 and 3 in params  # classify keeps its own 3
    assert _manifest(out)["hashed_settings"]["request_max_tokens"] == 40


def test_overlapped_rounds_sample_one_round_older_pool_and_are_reproducible(tmp_path, generate, capsys):
    plain, a, b = tmp_path / "plain", tmp_path / "a", tmp_path / "b"
    assert generate(plain, "--concurrency", "2", num=30) == 0
    assert generate(a, "--concurrency", "2", "--overlap-rounds", num=30) == 0
    assert generate(b, "--concurrency", "2", "--overlap-rounds", num=30) == 0
    assert derived_files(a) == derived_files(b)  # the same files whatever the timing
    assert _manifest(a)["hashed_settings"]["overlap_rounds"] is True
    assert "overlap_rounds" not in _manifest(plain)["hashed_settings"]

    def rounds(run):
        out: dict[int, list[str]] = {}
        for rec in read_jsonl(run / "requests.jsonl"):
            if rec["step"] == "bootstrap":
                out.setdefault(rec["round"], []).append(rec["prompt"])
        return out

    def machine_in(prompts, kept_before):
        return sum(any(k in p for k in kept_before) for p in prompts)

    kept = [r["instruction"] for r in read_jsonl(a / "machine_generated_instructions.jsonl")]
    ra, rp = rounds(a), rounds(plain)
    assert ra[0] == rp[0]  # both start from the seeds alone
    assert machine_in(ra[1], kept) == 0 < machine_in(rp[1], kept)  # round 1 still sees only the seeds
    assert len(ra) >= 3 and machine_in(ra[2], kept) > 0
    # the overlap is a recorded setting: a plain run is not resumed with it, nor upstream given it
    capsys.readouterr()
    assert generate(plain, "--concurrency", "2", "--overlap-rounds", num=40) == 2
    assert "overlap_rounds" in capsys.readouterr().err
    assert generate(tmp_path / "up", "--overlap-rounds", "--profile", "upstream", num=5) == 2
    assert "--overlap-rounds" in capsys.readouterr().err
