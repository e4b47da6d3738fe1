"""Steps 2 and 3, one request per kept instruction: what each instruction still needs, its
request, and the row its answer becomes.

Their requests are independent of each other, so the driver sends them in chunks of any size;
an instruction's position in the kept list numbers its request, so a resumed run numbers them
the same.
"""
from __future__ import annotations

from collections.abc import Callable

from ...lm.base import LMRequest
from ...records import InstanceResponse, KeptInstruction, Label, response_metadata
from ..parsing import is_classification_answer
from ..profiles import Profile
from ..prompt_texts import PromptTexts
from ..settings import GenerateSettings
from ..state import RunState
from ..templates import classify_prompt, frame, instances_prompt
from .bootstrap import cap, round_size


class ClassifyStep:
    name = "classify"

    def __init__(self, settings: GenerateSettings, profile: Profile, framing: str,
                 texts: Callable[[], PromptTexts]) -> None:
        self.settings, self.profile, self.framing, self.texts = settings, profile, framing, texts
        self.spec = profile.spec("classify")

    def label(self, state: RunState, instruction: str) -> bool | None:
        """Whether the instruction is a classification task; None while step 2 has no answer."""
        answer = state.log.answer("classify", instruction)
        return None if answer is None else is_classification_answer(answer[1], self.profile)

    def pending(self, state: RunState) -> list[KeptInstruction]:
        return [k for k in state.kept if state.log.result(self.name, k.instruction) is None]

    def request(self, state: RunState, k: KeptInstruction, position: int) -> tuple[LMRequest, dict]:
        params = self.spec.params(completion=self.framing == "completion",
                                  max_tokens=cap(self.spec.sampling["max_tokens"], self.settings))
        return (frame(self.name, classify_prompt(k.instruction, self.texts()), params, self.framing),
                {"key": k.instruction, "request_idx": position})

    def record(self, state: RunState, k: KeptInstruction) -> Label | None:
        answer = state.log.answer(self.name, k.instruction)
        if answer is None:
            return None
        return Label(k.id, k.instruction, answer[1], is_classification_answer(answer[1], self.profile))


class InstancesStep:
    name = "instances"

    def __init__(self, settings: GenerateSettings, profile: Profile, framing: str, classify: ClassifyStep,
                 texts: Callable[[], PromptTexts]) -> None:
        self.settings, self.profile, self.framing, self.classify = settings, profile, framing, classify
        self.texts = texts
        self.spec = profile.spec("instances")
        most = settings.max_instances_to_generate or self.spec.options["max_instances_to_generate"]
        self.stop = (f"Example {most + 1}", *self.spec.stop)  # the model stops before one too many

    def pending(self, state: RunState) -> list[KeptInstruction]:
        return [k for k in state.kept if self.classify.label(state, k.instruction) is not None
                and state.log.result(self.name, k.instruction) is None]

    def max_tokens(self, state: RunState, position: int) -> int:
        """Fewer tokens for classification tasks; upstream decides per request batch (of 5)."""
        limits = self.spec.options["max_tokens"]
        label = self.classify.label
        if not self.profile.batch_max_tokens:
            clf = label(state, state.kept[position].instruction)
        else:
            size = round_size(self.settings, self.profile)
            start = position - position % size
            clf = any(label(state, k.instruction) for k in state.kept[start:start + size])
        return limits["classification"] if clf else limits["generation"]

    def request(self, state: RunState, k: KeptInstruction, position: int) -> tuple[LMRequest, dict]:
        is_clf = bool(self.classify.label(state, k.instruction))
        params = self.spec.params(completion=self.framing == "completion", stop=self.stop,
                                  max_tokens=cap(self.max_tokens(state, position), self.settings))
        prompt = instances_prompt(k.instruction, is_classification=is_clf, texts=self.texts())
        return frame(self.name, prompt, params, self.framing), {"key": k.instruction, "request_idx": position}

    def record(self, state: RunState, k: KeptInstruction) -> InstanceResponse | None:
        answer = state.log.answer(self.name, k.instruction)
        if answer is None:
            return None
        rec, text = answer
        return InstanceResponse(
            id=k.id, instruction=k.instruction, raw_instances=text, instance_metadata=response_metadata(rec),
            instruction_metadata=k.metadata, most_similar=k.most_similar,
            avg_similarity_score=k.avg_similarity_score,
            is_classification=bool(self.classify.label(state, k.instruction)))
