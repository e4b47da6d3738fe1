"""The two behaviour profiles, as plain data.

`upstream` reproduces the decisions of the released Self-Instruct scripts, quirks included, so a
batch they recorded can be re-processed offline with the same result. `default` is the paper's
method with the eight known quirks fixed. Every field here is one documented difference
(docs/pipeline.md lists them); the code branches on these fields, never on the profile's name.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Profile:
    name: str
    # quirk 1: str.capitalize() lowercases everything after the first character
    lowercase_rest: bool
    # quirk 2: a length-truncated instruction response is dropped whole (else: only its last item)
    drop_truncated_response: bool
    # quirk 3: the stop list contains "16." which also fires inside "16.5"
    bootstrap_stop: tuple[str, ...]
    # quirk 4: "10.Foo" (no space after the dot) is not a list marker upstream
    split_pattern: str
    # quirk 5: upstream rejects only above the threshold; the paper keeps only below it
    inclusive_threshold: bool
    # quirk 6: the 5-instance cap is drawn from one process-long stream (upstream) or per task
    per_task_instance_rng: bool
    # quirk 7: classification file name fixed to "davinci"; failed requests are final
    clf_file_model: str | None
    retry_failed_requests: bool
    # the sampling RNG: one stream seeded once per process (upstream) or one per round
    single_rng_stream: bool
    # prompts per round: upstream packs 5 prompts per request and waits for it; None = concurrency
    round_size: int | None
    # classification answer: upstream accepts exactly Yes/yes/YES after strip
    lenient_yes: bool
    # max_tokens for instances: upstream 300 for a 5-prompt batch holding any classification task
    batch_max_tokens: bool
    # stop accepting at exactly --num-instructions (upstream keeps the whole last request)
    trim_to_target: bool
    # most_similar tie order: numpy's unstable full argsort (upstream) or ties by pool index
    upstream_top_k_order: bool


UPSTREAM = Profile(
    name="upstream",
    lowercase_rest=True,
    drop_truncated_response=True,
    bootstrap_stop=("\n\n", "\n16", "16.", "16 ."),
    split_pattern=r"\n\d+\s?\. ",
    inclusive_threshold=False,
    per_task_instance_rng=False,
    clf_file_model="davinci",
    retry_failed_requests=False,
    single_rng_stream=True,
    round_size=5,
    lenient_yes=False,
    batch_max_tokens=True,
    trim_to_target=False,
    upstream_top_k_order=True,
)

DEFAULT = Profile(
    name="default",
    lowercase_rest=False,
    drop_truncated_response=False,
    bootstrap_stop=("\n\n", "\n16.", "\n16 ."),
    # a list marker is a line starting with a number and a dot that is not a decimal point
    split_pattern=r"\n[ \t]*\d+[ \t]*\.(?!\d)[ \t]*",
    inclusive_threshold=True,
    per_task_instance_rng=True,
    clf_file_model=None,
    retry_failed_requests=True,
    single_rng_stream=False,
    round_size=None,
    lenient_yes=True,
    batch_max_tokens=False,
    trim_to_target=True,
    upstream_top_k_order=False,
)

PROFILES = {p.name: p for p in (DEFAULT, UPSTREAM)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})", field="--profile") from None


def profile_dict(profile: Profile) -> dict:
    return asdict(profile)
