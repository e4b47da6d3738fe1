"""An LLM judge for the A-D scale: absolute single-answer grading against the expert reference.

The judge sees the paper's rubric, the instruction, the input, the reference output and the
response, and must end its answer with exactly one verdict such as "[[B]]". Parsing is strict on
purpose: a verdict that is missing, doubled or followed by more text is asked for again (with a
reminder, a couple of times) and then recorded as unrated. Guessing a grade from free text would
hide exactly the failures an agreement study is meant to expose.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from selfinstruct.generation.lm.base import LanguageModel, LMRequest, SamplingParams

from .judge_spec import JudgeSpec, load_judge_spec, packaged_data, parse_bracket_verdict
from .predictions import Prediction
from .ratings import Rating
from .tasks import UserTask

parse_verdict = parse_bracket_verdict  # the default judge's reading of a reply


def rubric() -> dict[str, str]:
    """The paper's A-D scale, as the human rating sheet shows it."""
    return dict(packaged_data("rubric.json")["grades"])


def render_messages(task: UserTask, response: str, *, spec: JudgeSpec | None = None,
                    max_response_chars: int | None = None) -> list[dict]:
    """The judge conversation for one item: system message and the graded item."""
    spec = spec or load_judge_spec()
    tpl = spec.prompt
    limit = spec.max_response_chars if max_response_chars is None else max_response_chars
    shown = response.strip()
    if not shown:
        shown = tpl["empty_response"]
    elif limit is not None and len(shown) > limit:
        shown = shown[:limit] + tpl["truncated"].format(omitted=len(shown) - limit)
    scale = "\n".join(f"{g}: {text}" for g, text in spec.rubric.items())
    user = tpl["user"].format(rubric=scale, instruction=task.instruction, input=task.input or tpl["no_input"],
                              reference=task.output, response=shown)
    return [{"role": "system", "content": tpl["system"]}, {"role": "user", "content": user}]


def messages_to_prompt(messages: Sequence[dict]) -> str:
    """For a completions-only judge endpoint: the conversation as plain text."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def judge_request(messages: Sequence[dict], params: SamplingParams, *, use_chat: bool) -> LMRequest:
    """One judge call: the conversation itself, or its text for a completions-only endpoint."""
    if use_chat:
        return LMRequest(messages=tuple(messages), params=params)
    return LMRequest(prompt=messages_to_prompt(messages), params=params)


def ask_again(messages: Sequence[dict], reply: str, reminder: str) -> list[dict]:
    """The conversation with the judge's unusable reply and the reminder appended, so the judge
    sees what it said and what was wrong with it."""
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": reminder}]


@dataclass(frozen=True)
class Judge:
    """One rater: a model, and which repeated sample of it this is (for agreement)."""

    rater: str
    model_name: str
    lm: LanguageModel
    sample: int = 0
    use_chat: bool = True
    seed: int | None = None  # repeated samples each get their own seed, so they are reproducible

    def params(self, params: SamplingParams) -> SamplingParams:
        return params if self.seed is None else replace(params, seed=self.seed)


def _by_backend(judges: Sequence[Judge]) -> list[tuple[LanguageModel, list[Judge]]]:
    """Judges grouped by the backend they share (the repeated samples of one model), so each
    round asks every backend once: a batch backend then waits for one batch, not one a sample."""
    groups: list[tuple[LanguageModel, list[Judge]]] = []
    for judge in judges:
        group = next((g for lm, g in groups if lm is judge.lm), None)
        if group is None:
            groups.append((judge.lm, [judge]))
        else:
            group.append(judge)
    return groups


@dataclass
class _Pending:
    prediction: Prediction
    task: UserTask
    judge: Judge
    messages: list[dict]
    replies: list[str] = field(default_factory=list)


@dataclass
class JudgeStats:
    requests: int = 0
    retried: int = 0
    unrated: int = 0
    rated: int = 0
    backend_errors: int = 0
    errors: list[str] = field(default_factory=list)

    def failed(self, item: str, error: object) -> None:
        """A request the backend could not complete: not recorded, so a rerun asks again."""
        self.backend_errors += 1
        self.errors.append(f"{item}: {error}")


def judge_items(
    items: Sequence[tuple[Prediction, UserTask]],
    judges: Sequence[Judge],
    *,
    on_rating: Callable[[Rating], None],
    params: SamplingParams,
    spec: JudgeSpec | None = None,
    verdict_retries: int | None = None,
    max_response_chars: int | None = None,
    skip: set[tuple[str, str, str]] = frozenset(),
    progress: Callable[[int], None] | None = None,
) -> JudgeStats:
    """Rate every (item, judge) pair not in `skip`; each finished rating goes to `on_rating`.

    Rounds: everything pending goes to the backends as one call per backend; replies without a
    valid verdict get the reminder appended and go again, up to `verdict_retries` times. A
    request the backend could not complete (network, server errors after the backend's own
    retries) is not recorded, so rerunning the command picks it up.
    """
    spec = spec or load_judge_spec()
    retries = spec.verdict_retries if verdict_retries is None else verdict_retries
    stats = JudgeStats()
    reminder = spec.prompt["reminder"]
    pending = [
        _Pending(pred, task, judge, render_messages(task, pred.response, spec=spec, max_response_chars=max_response_chars))
        for pred, task in items for judge in judges
        if (pred.id, pred.model, judge.rater) not in skip
    ]
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            stats.retried += len(pending)
        still: list[_Pending] = []
        for lm, group in _by_backend(judges):
            mine = [p for judge in group for p in pending if p.judge is judge]
            if not mine:
                continue
            requests = [judge_request(p.messages, p.judge.params(params), use_chat=p.judge.use_chat) for p in mine]
            stats.requests += len(requests)
            results = lm.generate(requests)
            for p, result in zip(mine, results):
                judge = p.judge
                if not result.ok:
                    stats.failed(f"{p.prediction.id}/{p.prediction.model}/{judge.rater}", result.error)
                    if progress:
                        progress(1)
                    continue
                p.replies.append(result.text)
                grade, explanation = spec.parse(result.text)
                last_try = attempt == retries
                if grade is None and not last_try:
                    p.messages = ask_again(p.messages, result.text, reminder)
                    still.append(p)
                    continue
                if grade is None:
                    stats.unrated += 1
                else:
                    stats.rated += 1
                on_rating(Rating(
                    id=p.prediction.id, model=p.prediction.model, rater=judge.rater, rating=grade,
                    explanation=explanation if grade is not None else None, raw=result.text,
                    extra={"judge_model": judge.model_name, "judge_spec": spec.version, "sample": judge.sample, "attempts": len(p.replies),
                           "response_chars": len(p.prediction.response)},
                ))
                if progress:
                    progress(1)
        pending = still
    return stats
