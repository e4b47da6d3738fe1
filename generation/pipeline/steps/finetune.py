"""Step 4, finetune: no model calls. Each kept instruction's step 3 answer becomes instances
(parsed, filtered, capped), and the instances become the finetuning formats.

Upstream draws the instance cap from one generator seeded once and then keeps using it for the
finetuning templates; the default profile gives each task its own generator, so one task's
sample does not depend on how many tasks came before it.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from ...records import Instance, Rejection, TrainingInstance
from ...seeds import SeedTask
from .. import finetune as formats
from ..filters import filter_instances
from ..log import choice, is_chat
from ..parsing import parse_instances, strip_chat_echo
from ..profiles import Profile
from ..sampling import task_rng
from ..settings import GenerateSettings
from ..state import RunState
from .keyed import ClassifyStep


@dataclass
class DerivedInstances:
    instances: list[Instance]
    rejected: list[Rejection]
    counts: Counter
    stream: random.Random  # upstream's generator after the cap draws (it goes on to the templates)


@dataclass
class FinetuningData:
    prompt_completion: list[dict]
    messages: list[dict]
    alpaca: list[dict]


class FinetuneStep:
    name = "finetune"

    def __init__(self, settings: GenerateSettings, profile: Profile, classify: ClassifyStep) -> None:
        self.settings, self.profile, self.classify = settings, profile, classify
        self.spec = profile.spec("finetune")

    def derive(self, state: RunState) -> DerivedInstances:
        """Kept instances per task, their rejections and rule counts."""
        seed = self.settings.finetune_seed
        stream = random.Random(seed)
        out = DerivedInstances([], [], Counter(), stream)
        cap_ = self.spec.options["max_instances_per_task"]
        for k in state.kept:
            label = self.classify.label(state, k.instruction)
            rec = state.log.result("instances", k.instruction)
            if label is None or rec is None:
                continue
            c = choice(rec)
            text, finish = c if c else ("", None)
            if is_chat(rec):
                text = strip_chat_echo(text, k.instruction)
            pairs, dropped = parse_instances(text, finish, label)
            rng = task_rng(seed, k.instruction) if self.profile.per_task_instance_rng else stream
            chosen, dropped2 = filter_instances(pairs, rng, cap=cap_)
            for d in dropped + dropped2:
                out.counts[d.rule] += 1
                out.rejected.append(Rejection("instances", rec.get("request_idx"), d.candidate, d.rule,
                                              instruction=k.instruction))
            out.instances += [Instance(k.id, k.instruction.strip(), inp, o, label) for inp, o in chosen]
        return out

    def formats(self, derived: DerivedInstances, seeds: list[SeedTask]) -> FinetuningData:
        training = [TrainingInstance(i.id, i.instruction, i.input, i.output) for i in derived.instances]
        if self.settings.include_seed_instances:
            training += [TrainingInstance(t.id, t.instruction, inst.input, inst.output)
                         for t in seeds for inst in t.instances]
        rng = (derived.stream if not self.profile.per_task_instance_rng
               else random.Random(f"selfinstruct:{self.settings.finetune_seed}:finetune"))
        return FinetuningData(formats.prompt_completion_records(training, rng, self.spec.template),
                              formats.messages_records(training), formats.alpaca_records(training))

    @staticmethod
    def counts(derived: DerivedInstances, data: FinetuningData) -> dict:
        return {"tasks_with_instances": len({i.id for i in derived.instances}),
                "instances": len(derived.instances), "rejected": dict(derived.counts),
                "prompt_completion": len(data.prompt_completion), "messages": len(data.messages),
                "alpaca": len(data.alpaca)}
