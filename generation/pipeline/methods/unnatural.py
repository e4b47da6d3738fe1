"""Unnatural Instructions (Honovich et al., 2022, arXiv 2212.09689), as one loop of three stages.

core:       three seed examples (instruction, input, output constraints) in, a fourth out; the
            unparseable and exact copies are dropped (and near copies with --dedup rouge-l).
output:     each kept example's output, asked for separately and greedily from its instruction
            and input alone; a failed or empty output drops the example.
paraphrase: a few-shot request for other wordings of each kept instruction; every paraphrase
            keeps its source's input and output and records which example it came from.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ...errors import InputError
from ...exact_dups import RULE as EXACT_RULE
from ...exact_dups import ExactDuplicates
from ...jsonl import iter_jsonl
from ...records import Instance, KeptInstruction, instruction_id, response_metadata
from ..sampling import request_seed
from .common import Gate, Outcome, run_files
from .parsing import parse_example, parse_numbered
from .runner import Ask, MethodRunner
from .settings import MethodSettings
from .spec import load_method_spec

PARAPHRASES_FILE = "paraphrases.jsonl"


@dataclass(frozen=True)
class SeedExample:
    id: str
    instruction: str
    input: str
    constraints: str


@dataclass(frozen=True)
class Example:
    id: str
    instruction: str
    input: str
    constraints: str
    request_idx: int
    metadata: dict


def load_seed_examples(path) -> list[SeedExample]:
    out = []
    for line, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise InputError("expected an object", file=path, line=line)
        values = {}
        for name in ("id", "instruction", "input", "constraints"):
            value = obj.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InputError("must be a non-empty string", file=path, line=line, field=name)
            values[name] = value.strip()
        out.append(SeedExample(**values))
    if len(out) < 3:
        raise InputError(f"needs at least 3 examples to sample demonstrations from, has {len(out)}", file=path)
    return out


class UnnaturalInstructions:
    def __init__(self, settings: MethodSettings, seeds: list[SeedExample]) -> None:
        self.settings, self.seeds = settings, seeds
        self.spec = load_method_spec("unnatural")
        self.texts = self.spec.texts

    # -- prompts ----------------------------------------------------------------------------------
    def core_prompt(self, i: int) -> str:
        t = self.texts["core"]
        rng = random.Random(f"selfinstruct:{self.settings.seed}:unnatural:core:{i}")
        demos = rng.sample(self.seeds, self.spec.options["demonstrations"])
        shown = [t["example"].format(n=n, instruction=d.instruction, input=d.input, constraints=d.constraints)
                 for n, d in enumerate(demos, start=1)]
        return "\n\n".join([t["header"], *shown, t["next"].format(n=len(demos) + 1)])

    def output_prompt(self, e: Example) -> str:
        return self.texts["output"]["template"].format(instruction=e.instruction, input=e.input)

    def paraphrase_prompt(self, instruction: str) -> str:
        t, k = self.texts["paraphrase"], self.settings.paraphrases
        demos = [t["layout"].format(instruction=d["instruction"],
                                    numbered="\n".join(f"{n}. {p}" for n, p in enumerate(d["paraphrases"][:k], 1)))
                 for d in t["demos"]]
        return "\n\n".join([t["header"].format(k=k), *demos, t["next"].format(instruction=instruction)])

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, runner: MethodRunner) -> None:
        s, out = self.settings, Outcome()
        asks = [Ask(f"core:{i}", self.spec.request("core", self.core_prompt(i), s, seed=request_seed(s.seed, i)),
                    {"request_idx": i}) for i in range(s.num_examples)]
        gate = Gate(s)
        examples: list[Example] = []
        for i, answer in enumerate(runner.ask("core", asks)):
            if answer is None:
                out.reject("core", i, None, "request_failed")
                continue
            fields = parse_example(answer.text)
            if fields is None:
                out.reject("core", i, answer.text, "unparseable")
                continue
            rule, score = gate.judge(fields[0], key=f"{fields[0]}\n{fields[1]}")
            if rule is not None:
                out.reject("core", i, fields[0], rule, score)
                continue
            examples.append(Example(instruction_id(len(examples)), *fields, i, response_metadata(answer.record)))
        runner.counts = {"core": {"requests": len(asks), "kept": len(examples)}}

        answers = runner.ask("output", [Ask(f"output:{e.id}", self.spec.request("output", self.output_prompt(e), s),
                                            {"request_idx": e.request_idx}) for e in examples])
        kept: list[Example] = []
        for e, answer in zip(examples, answers):
            text = answer.text.strip() if answer is not None else ""
            if not text:
                out.reject("output", e.request_idx, e.instruction, "output_failed" if answer is None else "empty_output")
                continue
            kept.append(e)
            out.instances.append(Instance(e.id, e.instruction, e.input, text, None))
        runner.counts["output"] = {"requests": len(examples), "kept": len(kept)}
        runner.write(self.files(out, kept, []))

        paraphrases = self.expand(runner, out, kept) if s.paraphrases > 0 else []
        runner.counts["paraphrase"] = {"requests": len(kept) if s.paraphrases > 0 else 0, "kept": len(paraphrases)}
        runner.counts["instances"] = len(out.instances)
        runner.counts["rejected"] = dict(sorted(out.rules.items()))
        runner.write(self.files(out, kept, paraphrases))

    def expand(self, runner: MethodRunner, out: Outcome, kept: list[Example]) -> list[dict]:
        s = self.settings
        outputs = {i.id: i.output for i in out.instances}
        asks = [Ask(f"paraphrase:{e.id}", self.spec.request("paraphrase", self.paraphrase_prompt(e.instruction), s,
                                                            seed=request_seed(s.seed, 1_000_000 + e.request_idx)),
                    {"request_idx": e.request_idx}) for e in kept]
        seen = ExactDuplicates([e.instruction for e in kept])  # paraphrases: exact copies only
        rows: list[dict] = []
        for e, answer in zip(kept, runner.ask("paraphrase", asks)):
            if answer is None:
                out.reject("paraphrase", e.request_idx, e.instruction, "request_failed")
                continue
            items = parse_numbered(answer.text, s.paraphrases)
            if not items:
                out.reject("paraphrase", e.request_idx, answer.text, "unparseable", instruction=e.instruction)
            for text in items:
                if seen.first(text) is not None:
                    out.reject("paraphrase", e.request_idx, text, EXACT_RULE, instruction=e.instruction)
                    continue
                seen.add(text)
                pid = f"paraphrase_{len(rows)}"
                rows.append({"id": pid, "source_id": e.id, "instruction": text, "source_instruction": e.instruction,
                             "input": e.input, "output": outputs[e.id]})
                out.instances.append(Instance(pid, text, e.input, outputs[e.id], None))
        return rows

    def files(self, out: Outcome, kept: list[Example], paraphrases: list[dict]) -> dict[str, list[dict]]:
        rows = [KeptInstruction(e.id, e.instruction, None, None, e.request_idx, e.metadata).to_row() for e in kept]
        for row, e in zip(rows, kept):
            row["constraints"] = e.constraints
        files = run_files(out, rows, self.settings.finetune_seed)
        files[PARAPHRASES_FILE] = paraphrases
        return files
