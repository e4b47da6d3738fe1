"""Evol-Instruct (Xu et al., 2023, WizardLM, arXiv 2304.12244), as one loop over epochs.

Each epoch evolves every instruction of the pool by one operation drawn at random: in depth (add
constraints, deepen, concretize, increase reasoning steps, complicate the input) or in breadth (a
new instruction in the same domain, rarer). An evolution is eliminated when it is empty, unchanged
or copies the prompt's scaffolding, when a comparison request says it asks for nothing new, or
when its answer is a short refusal or says nothing. A failed evolution leaves its parent in the
pool unchanged, as in the paper; a kept one replaces its parent for the next epoch. Every kept
row records its lineage: parent, root, operation, epoch.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from ...exact_dups import exact_key
from ...records import Instance, KeptInstruction, instruction_id, response_metadata
from ..sampling import request_seed
from .common import Gate, Outcome, run_files
from .parsing import clean_evolution, copies_scaffold, is_refusal, is_yes, says_nothing
from .pool import PoolItem
from .runner import Ask, MethodRunner
from .settings import MethodSettings
from .spec import load_method_spec

LINEAGE_FILE = "lineage.jsonl"


@dataclass(frozen=True)
class Evolved:
    id: str
    parent_id: str
    root_id: str
    operation: str
    epoch: int
    instruction: str
    parent_instruction: str
    output: str


class EvolInstruct:
    def __init__(self, settings: MethodSettings, pool: list[PoolItem]) -> None:
        self.settings, self.pool = settings, pool
        self.spec = load_method_spec("evol")
        self.texts, self.ops = self.spec.texts, list(self.spec.options["operations"])

    def operation(self, epoch: int, item: PoolItem) -> str:
        return random.Random(f"selfinstruct:{self.settings.seed}:evol:{epoch}:{item.id}").choice(self.ops)

    def evolve_prompt(self, op: str, instruction: str) -> str:
        if op == "breadth":
            return self.texts["breadth"].format(instruction=instruction)
        return self.texts["in_depth"].format(hint=self.texts["hints"][op], instruction=instruction)

    def run(self, runner: MethodRunner) -> None:
        s, out, rows, kept_rows = self.settings, Outcome(), [], []
        pool = list(self.pool)
        gate = Gate(s, [p.instruction for p in pool])
        runner.counts = {"pool": len(pool), "epochs": []}
        for epoch in range(1, s.epochs + 1):
            base = (epoch - 1) * len(self.pool)
            ops = [self.operation(epoch, p) for p in pool]
            asks = [Ask(f"e{epoch}:{p.id}", self.spec.request("evolve", self.evolve_prompt(op, p.instruction), s,
                                                              seed=request_seed(s.seed, base + j)),
                        {"epoch": epoch, "operation": op, "request_idx": base + j})
                    for j, (p, op) in enumerate(zip(pool, ops))]
            children = []
            for j, (p, answer) in enumerate(zip(pool, runner.ask("evolve", asks))):
                child, score = clean_evolution(answer.text) if answer is not None else None, None
                rule = "request_failed" if child is None else self._evolution_rule(p, child)
                if rule is None:
                    rule, score = gate.judge(child)
                if rule is not None:
                    out.reject("evolve", base + j, child, rule, score, instruction=p.instruction)
                    continue
                children.append((j, child, answer))
            compare = runner.ask("compare", [
                Ask(f"e{epoch}:{pool[j].id}", self.spec.request(
                    "compare", self.texts["compare"].format(parent=pool[j].instruction, child=child), s),
                    {"request_idx": base + j}) for j, child, _ in children])
            gained = []
            for (j, child, answer), verdict in zip(children, compare):
                if verdict is not None and is_yes(verdict.text) is False:
                    out.reject("compare", base + j, child, "no_information_gain", instruction=pool[j].instruction)
                else:
                    gained.append((j, child, answer))
            replies = runner.ask("answer", [
                Ask(f"e{epoch}:{pool[j].id}", self.spec.request("answer", self.texts["answer"].format(instruction=child), s),
                    {"request_idx": base + j}) for j, child, _ in gained])
            next_pool, kept = list(pool), 0
            for (j, child, answer), reply in zip(gained, replies):
                parent, text = pool[j], reply.text.strip() if reply is not None else ""
                rule = "answer_failed" if reply is None else self._answer_rule(text)
                if rule is not None:
                    out.reject("answer", base + j, child, rule, instruction=parent.instruction)
                    continue
                nid = instruction_id(len(rows))
                rows.append(Evolved(nid, parent.id, parent.root_id, ops[j], epoch, child, parent.instruction, text))
                kept_rows.append(KeptInstruction(nid, child, None, None, base + j, response_metadata(answer.record)).to_row())
                out.instances.append(Instance(nid, child, "", text, None))
                next_pool[j], kept = PoolItem(nid, child, parent.root_id), kept + 1
            runner.counts["epochs"].append({"epoch": epoch, "evolved": len(pool), "kept": kept})
            runner.counts["rejected"] = dict(sorted(out.rules.items()))
            runner.counts["instances"] = len(out.instances)
            pool = next_pool
            runner.write(self.files(out, kept_rows, rows))

    def _evolution_rule(self, parent: PoolItem, child: str) -> str | None:
        if not child:
            return "empty"
        if exact_key(child) == exact_key(parent.instruction):
            return "unchanged"
        if copies_scaffold(child, self.texts["scaffold"]):
            return "copied_scaffold"
        return None

    def _answer_rule(self, answer: str) -> str | None:
        if is_refusal(answer, self.spec.options["refusal_max_words"]):
            return "refusal"
        if says_nothing(answer):
            return "says_nothing"
        return None

    def files(self, out: Outcome, kept_rows: list[dict], rows: list[Evolved]) -> dict[str, list[dict]]:
        files = run_files(out, kept_rows, self.settings.finetune_seed)
        files[LINEAGE_FILE] = [asdict(r) for r in rows]
        return files
