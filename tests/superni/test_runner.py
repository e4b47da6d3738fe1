"""End-to-end runs: the embedded model through the local transformers backend, and the
OpenAI-compatible client against a real local server; resume and settings checks."""
from __future__ import annotations

import json

import pytest

from selfinstruct.evaluation.superni.data import load_tasks
from selfinstruct.evaluation.superni.prompts import build_prompts
from selfinstruct.evaluation.superni.run import RunOptions, run_evaluation
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import read_jsonl
from selfinstruct.generation.lm.config import BackendConfig
from doubles.localserver import LocalServer

TASKS = ["task648_answer_generation", "task1393_superglue_copa_text_completion",
         "task957_e2e_nlg_text_generation_generate", "task1344_glue_entailment_classification"]


def _outputs(out):
    return {name: out / name for name in ("predictions.jsonl", "metrics.json", "report.md", "per_category.png",
                                          "manifest.json", "references.jsonl", "prompts.jsonl")}


@pytest.mark.slow
def test_embedded_model_end_to_end_and_resume(tmp_path, superni_dir, embedded_lm):
    out = tmp_path / "run"
    opts = RunOptions(out=out, data_dir=superni_dir, tasks=TASKS, max_instances=2, max_new_tokens=3, progress=False)
    metrics = run_evaluation(BackendConfig(), opts, backend=embedded_lm)
    files = _outputs(out)
    assert all(p.exists() for p in files.values())
    preds = read_jsonl(files["predictions.jsonl"])
    assert len(preds) == 8 and all(set(p) == {"id", "prediction"} for p in preds)
    assert metrics["count"] == 8 and metrics["missing"] == 0 and len(metrics["per_task"]) == 4
    manifest = json.loads(files["manifest.json"].read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["generated_this_run"] == 8
    assert manifest["tokens"]["completion"] > 0 and manifest["settings"]["token_counter"] == "HFTokenCounter"
    assert "api_key" not in manifest["backend"] and files["per_category.png"].read_bytes()[:4] == b"\x89PNG"
    assert "| **smollm2** (this run) |" in files["report.md"].read_text()

    # kill mid-write: drop two lines and leave a torn one; the rerun generates only those three
    lines = files["predictions.jsonl"].read_text().splitlines(keepends=True)
    files["predictions.jsonl"].write_text("".join(lines[:5]) + lines[5][:10])
    again = run_evaluation(BackendConfig(), opts, backend=embedded_lm)
    manifest = json.loads(files["manifest.json"].read_text())
    assert manifest["counts"]["generated_this_run"] == 3 and manifest["generation"]["skipped_existing"] == 5
    assert sorted(p["id"] for p in read_jsonl(files["predictions.jsonl"])) == sorted(p["id"] for p in preds)
    assert again["rougeL"] == metrics["rougeL"]  # greedy: the same text again

    # a different setting must not be mixed into the same predictions file
    with pytest.raises(InputError) as err:
        run_evaluation(BackendConfig(), RunOptions(out=out, data_dir=superni_dir, tasks=TASKS, max_instances=2,
                                                   max_new_tokens=5, progress=False), backend=embedded_lm)
    assert err.value.field == "settings.max_new_tokens"


def _gold_responder(superni_dir, fmt):
    tasks = load_tasks(superni_dir, TASKS, max_instances=3)
    gold = {p.text: inst.references[0] for p, inst in
            zip(build_prompts(tasks, fmt), [i for t in tasks for i in t.instances])}
    return tasks, gold


@pytest.mark.parametrize("fmt", ["self-instruct", "tk-instruct"])
def test_openai_compatible_server_end_to_end(tmp_path, superni_dir, fmt, capsys):
    tasks, gold = _gold_responder(superni_dir, fmt)
    failing = {"on": True}
    victim = next(iter(gold))

    def responder(body):
        if failing["on"] and body["prompt"] == victim:
            raise RuntimeError("boom")
        assert body["temperature"] == 0 and body["max_tokens"] == 64
        return gold[body["prompt"]]

    out = tmp_path / "api"
    argv = ["evaluate", "superni", "run", "--data-dir", str(superni_dir), "--tasks", *TASKS, "--max-instances", "3",
            "--max-new-tokens", "64", "--prompt", fmt, "--out", str(out), "--no-progress", "--model", "my-model",
            "--api", "completions", "--max-retries", "0", "--api-key", "sk-secret-123"]
    with LocalServer(responder) as server:
        argv += ["--base-url", server.base_url]
        assert main(argv) == 0
        first = json.loads((out / "metrics.json").read_text())
        assert first["missing"] == 1 and first["count"] == 12
        assert "1 instance(s) had no prediction" in (out / "report.md").read_text()
        failing["on"] = False
        n_before = len(server.received)
        assert main(argv) == 0  # resume: only the failed one is asked again
        assert len(server.received) - n_before == 1 and server.received[-1]["prompt"] == victim
        narrowed = argv.copy()
        narrowed[narrowed.index("--max-instances") + 1] = "1"
        assert main(narrowed) == 0  # a smaller selection reuses the folder's predictions
        assert len(server.received) - n_before == 1
        assert json.loads((out / "metrics.json").read_text())["count"] == 4
        assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["missing"] == 0 and metrics["rougeL"] == 100.0 and metrics["exact_match"] == 100.0
    prompts = {r["prompt"] for r in server.received}
    assert prompts == set(gold)  # the server saw exactly the encoded prompts
    for path in out.iterdir():
        assert "sk-secret-123" not in path.read_bytes().decode("utf-8", "replace")
    assert "ROUGE-L 100.0000" in capsys.readouterr().out


def test_api_prompts_fit_max_context(tmp_path, superni_dir):
    with LocalServer() as server:
        out = tmp_path / "ctx"
        assert main(["evaluate", "superni", "run", "--data-dir", str(superni_dir), "--tasks", TASKS[2],
                     "--max-instances", "2", "--max-new-tokens", "8", "--max-context", "60", "--out", str(out),
                     "--no-progress", "--model", "m", "--api", "completions", "--base-url", server.base_url]) == 0
    rows = read_jsonl(out / "prompts.jsonl")
    assert all(r["truncated"] and r["prompt"].endswith("\n\nOutput:") for r in rows)
    assert all(r["prompt"] in {b["prompt"] for b in server.received} for r in rows)
    assert json.loads((out / "manifest.json").read_text())["settings"]["token_counter"] == "CharTokenCounter"


def test_run_bad_data_dir_is_one_line(tmp_path, capsys):
    code = main(["evaluate", "superni", "run", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
                 "--model", "m", "--base-url", "http://127.0.0.1:9/v1"])
    assert code == 2 and capsys.readouterr().err.startswith(f"error: {tmp_path / 'none'}: data directory not found")



def test_run_downloads_when_no_data_dir(tmp_path, superni_dir, monkeypatch, folder_server):
    import shutil

    root = tmp_path / "remote" / "tasks"
    root.mkdir(parents=True)
    shutil.copy(superni_dir / "tasks" / f"{TASKS[0]}.json", root)
    monkeypatch.setenv("SELFINSTRUCT_CACHE", str(tmp_path / "cache"))
    with folder_server(root.parent) as remote, LocalServer() as server:
        out = tmp_path / "dl"
        argv = ["evaluate", "superni", "run", "--tasks", TASKS[0], "--max-instances", "2", "--data-url", remote.url,
                "--out", str(out), "--no-progress", "--model", "m", "--api", "completions", "--base-url", server.base_url]
        assert main(argv) == 0
    cached = tmp_path / "cache" / "superni" / "natural-instructions" / "tasks" / f"{TASKS[0]}.json"
    assert cached.is_file() and len(read_jsonl(out / "predictions.jsonl")) == 2


@pytest.fixture(scope="module")
def tiny_t5_dir(tmp_path_factory, tiny_bpe_dir):
    """A randomly initialised 2-layer T5 with the tiny BPE tokenizer: exercises the encoder-decoder path."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    out = tmp_path_factory.mktemp("tiny_t5")
    tok = AutoTokenizer.from_pretrained(tiny_bpe_dir)
    tok.pad_token = tok.eos_token
    tok.save_pretrained(out)
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tok), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2,
                      pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      decoder_start_token_id=tok.pad_token_id, n_positions=64)
    T5ForConditionalGeneration(config).save_pretrained(out)
    return out


def test_seq2seq_model_end_to_end(tmp_path, superni_dir, tiny_t5_dir):
    from selfinstruct.generation.lm.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_t5_dir), batch_size=4, device="cpu")
    backend.max_context = 48  # a short encoder context, so fitting is exercised
    out = tmp_path / "t5"
    metrics = run_evaluation(BackendConfig(model=str(tiny_t5_dir)),
                             RunOptions(out=out, data_dir=superni_dir, tasks=TASKS, max_instances=2, max_new_tokens=4,
                                        progress=False), backend=backend)
    assert metrics["count"] == 8 and metrics["missing"] == 0
    rows = read_jsonl(out / "prompts.jsonl")
    assert any(r["truncated"] for r in rows) and all(r["prompt"].endswith("Output:") for r in rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["prompt_budget"] == 48  # encoder-decoder: the whole context for the prompt
