"""The step objects and their specs: what a step sends comes from its data file and the
profile's overlay, `plan` is pure over the state, and `apply` is the only thing that changes it."""
from __future__ import annotations

import pytest

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.lm.config import BackendConfig
from selfinstruct.generation.pipeline import profiles
from selfinstruct.generation.pipeline.driver import Driver
from selfinstruct.generation.pipeline.settings import GenerateSettings
from selfinstruct.generation.seeds import load_seed_tasks


def _driver(tmp_path, profile="default", **kw) -> Driver:
    settings = GenerateSettings(num_instructions=10, profile=profile, concurrency=4, **kw)
    return Driver(tmp_path, settings, BackendConfig(model="local-test-model", api="completions"), load_seed_tasks())


def test_profiles_are_overlays_on_the_step_specs():
    base = profiles.DEFAULT.spec("bootstrap")
    up = profiles.UPSTREAM.spec("bootstrap")
    assert base.stop == ("\n\n", "\n16.", "\n16 .") and up.stop == ("\n\n", "\n16", "16.", "16 .")
    assert base.sampling == up.sampling  # the overlay changes only what it names
    assert up.options["prompt"] == base.options["prompt"]
    assert profiles.UPSTREAM.split_pattern != profiles.DEFAULT.split_pattern
    assert up.template == "upstream" and base.template == "bootstrap"
    for step in ("classify", "instances"):  # only the texts differ: the original repository's
        u, d = profiles.UPSTREAM.spec(step), profiles.DEFAULT.spec(step)
        assert u.template == "upstream" and d.template != "upstream"
        assert (u.sampling, u.stop, u.options, u.parser) == (d.sampling, d.stop, d.options, d.parser)
    assert profiles.UPSTREAM.spec("finetune") == profiles.DEFAULT.spec("finetune")


def test_unknown_profile_is_a_one_line_input_error():
    with pytest.raises(InputError) as err:
        profiles.get_profile("nonesuch")
    assert err.value.field == "--profile" and "default" in str(err.value)


def test_spec_params_follow_the_framing():
    spec = profiles.DEFAULT.spec("classify")
    assert spec.params(completion=True).logprobs == 1
    chat = spec.params(completion=False, max_tokens=2)
    assert chat.logprobs is None and chat.max_tokens == 2 and chat.stop == ("\n", "Task")


def test_requests_carry_the_spec_settings(tmp_path):
    d = _driver(tmp_path)
    plan = d.bootstrap.plan(d.state, 0)
    spec = profiles.DEFAULT.spec("bootstrap")
    assert len(plan.requests) == 4 and plan.missing == [0, 1, 2, 3]
    for req in plan.requests:
        p = req.params
        assert (p.temperature, p.top_p, p.presence_penalty, p.max_tokens) == (
            spec.sampling["temperature"], spec.sampling["top_p"], spec.sampling["presence_penalty"],
            spec.sampling["max_tokens"])
        assert p.stop == spec.stop and p.seed is not None


def test_request_max_tokens_caps_every_step(tmp_path):
    d = _driver(tmp_path, request_max_tokens=7)
    assert all(r.params.max_tokens == 7 for r in d.bootstrap.plan(d.state, 0).requests)


def test_plan_is_pure_and_apply_changes_the_state(tmp_path):
    d = _driver(tmp_path)
    first, again = d.bootstrap.plan(d.state, 0), d.bootstrap.plan(d.state, 0)
    assert [r.prompt for r in first.requests] == [r.prompt for r in again.requests]
    assert d.state.kept == [] and d.state.next_round == 0
    answer = "Write a short poem about the sea and its colours.\n10. Translate the sentence into French please."
    recs = [{"step": "bootstrap", "round": 0, "position": j, "request_idx": j, "prompt": r.prompt,
             "response": {"choices": [{"text": answer if j == 0 else "", "finish_reason": "stop"}]}}
            for j, r in enumerate(first.requests)]
    d.state.log.add_all(recs)
    assert d.bootstrap.plan(d.state, 0).missing == []  # the log answers every prompt now
    d.bootstrap.apply(d.state, recs)
    assert [k.instruction for k in d.state.kept] == ["Write a short poem about the sea and its colours.",
                                                    "Translate the sentence into French please."]
    assert [k.id for k in d.state.kept] == ["instruction_0", "instruction_1"]
    assert d.state.kept[0].metadata is d.state.kept[1].metadata  # one exchange, recorded once
    assert d.state.candidates == 2 + 3  # the empty answers parse to one empty candidate each
    assert d.state.rule_counts["empty"] == 3


def test_keyed_steps_ask_only_for_what_is_missing(tmp_path):
    d = _driver(tmp_path)
    from selfinstruct.generation.records import KeptInstruction

    d.state.kept = [KeptInstruction(f"instruction_{i}", text, {}, 0.0, 0, None)
                    for i, text in enumerate(["Is this review positive or negative?", "Write a haiku about rain."])]
    assert [k.id for k in d.classify.pending(d.state)] == ["instruction_0", "instruction_1"]
    assert d.instances.pending(d.state) == []  # no labels yet
    d.state.log.add({"step": "classify", "key": "Is this review positive or negative?",
                     "response": {"choices": [{"text": " Yes", "finish_reason": "stop"}]}})
    assert [k.id for k in d.classify.pending(d.state)] == ["instruction_1"]
    req, meta = d.instances.request(d.state, d.state.kept[0], 0)
    assert meta == {"key": "Is this review positive or negative?", "request_idx": 0}
    assert req.params.max_tokens == 300 and "Class label:" in req.prompt  # output-first for classification
    label = d.classify.record(d.state, d.state.kept[0])
    assert label.to_row() == {"instruction": "Is this review positive or negative?", "is_classification": " Yes",
                              "id": "instruction_0", "label": True}
