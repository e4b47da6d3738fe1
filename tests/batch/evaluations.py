"""The evaluation commands as batch tests run them: one scripted responder for all four (judges
answer in form, so each step is one round), their command lines, and what each writes.

Every command runs with a priced model name (gpt-4o-mini) against a local server, so its
manifest's cost is not zero and a batch run's can be checked against a live run's."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from doubles.localserver import LocalServer
from doubles.synthetic import synthetic_responder
from selfinstruct.generation import cli
from selfinstruct.generation.lm.batch_ledger import batch_dir_for

from .conftest import SECRET, read_jsonl

REPO = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-mini"
SUPERNI_TASKS = ["task648_answer_generation", "task1393_superglue_copa_text_completion",
                 "task957_e2e_nlg_text_generation_generate", "task1344_glue_entailment_classification"]


def _pick(text: str, options: list[str]) -> str:
    return options[hashlib.sha256(text.encode()).digest()[0] % len(options)]


def responder(body: dict) -> str:
    """A verdict for the A-D judge, three numbered answers for the data-quality judge, the
    synthetic model's text for everything else; all from the prompt alone."""
    user = "\n".join(m["content"] for m in body.get("messages") or () if m.get("role") == "user")
    if "[Response to grade]" in user:
        return f"The response addresses the instruction. {_pick(user, ['[[A]]', '[[B]]', '[[C]]', '[[D]]'])}"
    if "[End of example]" in user:
        return "1. yes\n2. " + _pick(user, ["yes", "no"]) + "\n3. " + _pick(user[::-1], ["yes", "no"])
    return synthetic_responder(body)


@dataclass(frozen=True)
class Command:
    """One evaluation command: its argv (without a server), its server flags, its rows and the
    cost its manifest records."""

    name: str
    argv: list[str]
    prefix: str  # "" or "judge-": which model flags name the server
    rows_file: Path
    manifest: Path
    cost_key: tuple  # the path to cost_usd inside the manifest
    ledger_dir: Path  # where --batch-api keeps batches.jsonl

    def with_server(self, base_url: str, *extra: str) -> list[str]:
        p = f"--{self.prefix}"
        return [*self.argv, f"{p}base-url", base_url, f"{p}api-key", SECRET, *extra]

    def run(self, base_url: str, *extra: str) -> int:
        return cli.main(self.with_server(base_url, *extra))

    def spawn(self, base_url: str, *extra: str) -> subprocess.Popen:
        """The command in a process of its own, for a test to kill."""
        env = {**os.environ, "SELFINSTRUCT_BATCH_POLL_SECONDS": "0.02", "PYTHONPATH": str(REPO.parent)}
        argv = [sys.executable, "-m", "selfinstruct.generation.cli", *self.with_server(base_url, *extra)]
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def live(self) -> int:
        with LocalServer(responder) as server:
            return self.run(server.base_url)

    def rows(self) -> list[dict]:
        return read_jsonl(self.rows_file)

    def cost(self) -> float:
        value = json.loads(self.manifest.read_text("utf-8"))
        for key in self.cost_key:
            value = value[key]
        return float(value)


def superni(out: Path, data_dir: Path) -> Command:
    """--concurrency 1: a live run sends four prompts a chunk, so twelve make three chunks."""
    argv = ["evaluate", "superni", "run", "--data-dir", str(data_dir), "--tasks", *SUPERNI_TASKS,
            "--max-instances", "3", "--max-new-tokens", "32", "--out", str(out), "--no-progress",
            "--model", MODEL, "--api", "completions", "--concurrency", "1"]
    return Command("superni", argv, "", out / "predictions.jsonl", out / "manifest.json", ("cost_usd",), out)


def user_generate(out: Path, tasks_file: Path) -> Command:
    argv = ["evaluate", "user-oriented", "generate", "--model", MODEL, "--out", str(out), "--tasks-file",
            str(tasks_file), "--limit", "6", "--chunk-size", "2", "--max-new-tokens", "24", "--no-progress"]
    return Command("user-generate", argv, "", out, out.with_name(out.stem + ".manifest.json"), ("usage", "cost_usd"),
                   batch_dir_for(out))


def user_judge(out: Path, tasks_file: Path, predictions: Path) -> Command:
    """Two samples of one judge: one backend, so one call (one batch) per round."""
    argv = ["evaluate", "user-oriented", "judge", "--predictions", str(predictions), "--judge-model", MODEL,
            "--judges", "2", "--out", str(out), "--tasks-file", str(tasks_file), "--no-progress"]
    return Command("user-judge", argv, "judge-", out, out.with_name(out.stem + ".manifest.json"),
                   ("usage", MODEL, "cost_usd"), batch_dir_for(out))


def data_quality(out: Path, run_dir: Path) -> Command:
    argv = ["evaluate", "data-quality", str(run_dir), "--out", str(out), "--sample", "4", "--judge-model", MODEL,
            "--no-progress"]
    return Command("data-quality", argv, "judge-", out / "ratings.jsonl", out / "manifest.json",
                   ("usage", MODEL, "cost_usd"), out)


def wait_for(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 120) -> None:
    """Until `ready()`, failing at once if the process ended first (with what it printed)."""
    give_up = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} first: {proc.stderr.read().decode()}")
        if time.monotonic() > give_up:
            raise AssertionError("timed out")
        time.sleep(0.05)
