"""Golden digests: written before the step redesign, a full run against the local scripted
server must write the same bytes (wall-clock fields masked) after it.

Re-recorded once, on purpose: the `upstream` case when that profile began to send the original
repository's prompt texts, 5 prompts per request and numpy < 1.25's tie order in `most_similar`
(issue 14); and the `chat` case's rejected.jsonl when the default profile began to name exact
copies (rule `exact_duplicate`, three copies of seeds that were `rouge_l` at 1.0; issue 20: the
kept files are unchanged). The other digests are those recorded before the redesign."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

_TIME = re.compile(rb'"created_at":\s*"[^"]*"')

CASES = {
    "default": ("--concurrency", "8"),
    "upstream": ("--profile", "upstream"),
    "default-packed-overlap": ("--concurrency", "8", "--prompts-per-request", "4", "--overlap-rounds"),
    "chat": ("--concurrency", "8", "--framing", "chat", "--classification-only"),
}


def digests(run: Path) -> dict[str, str]:
    out = {}
    for p in sorted(run.rglob("*.jsonl")):
        out[str(p.relative_to(run))] = hashlib.sha256(_TIME.sub(b'"created_at": 0', p.read_bytes())).hexdigest()[:16]
    return out


EXPECTED = {'chat': {'all_generated_instances.jsonl': '516763800a378465',
          'finetuning/finetuning_alpaca.jsonl': '12991962587918e5',
          'finetuning/finetuning_messages.jsonl': 'a5c3cfd1e5d7e939',
          'finetuning/finetuning_prompt_completion.jsonl': 'be9d883983ef44d5',
          'finetuning/gpt3_finetuning_data_262.jsonl': 'be9d883983ef44d5',
          'is_clf_or_not_local-test-model_template_1.jsonl': 'd6e9aff12ceb62df',
          'machine_generated_instances.jsonl': 'fcb911b72c49c71f',
          'machine_generated_instructions.jsonl': '0946c9800d1af6d2',
          'rejected.jsonl': '7696232569d30dfb',
          'requests.jsonl': 'bd55b0734bc7ee10'},
 'default': {'all_generated_instances.jsonl': '5a124b887fea5dc6',
             'finetuning/finetuning_alpaca.jsonl': '0dd309d32daee6c2',
             'finetuning/finetuning_messages.jsonl': 'c84c238d37e0cbaa',
             'finetuning/finetuning_prompt_completion.jsonl': 'ccb6594a4b68457f',
             'finetuning/gpt3_finetuning_data_246.jsonl': 'ccb6594a4b68457f',
             'is_clf_or_not_local-test-model_template_1.jsonl': 'd7d2a1b8b37910ae',
             'machine_generated_instances.jsonl': '63daf2f122db3d92',
             'machine_generated_instructions.jsonl': 'b30baa6de84049a1',
             'rejected.jsonl': '90b89648676af455',
             'requests.jsonl': '701fc70ed44e1c07'},
 'default-packed-overlap': {'all_generated_instances.jsonl': '5a124b887fea5dc6',
                            'finetuning/finetuning_alpaca.jsonl': '0dd309d32daee6c2',
                            'finetuning/finetuning_messages.jsonl': 'c84c238d37e0cbaa',
                            'finetuning/finetuning_prompt_completion.jsonl': 'ccb6594a4b68457f',
                            'finetuning/gpt3_finetuning_data_246.jsonl': 'ccb6594a4b68457f',
                            'is_clf_or_not_local-test-model_template_1.jsonl': 'd7d2a1b8b37910ae',
                            'machine_generated_instances.jsonl': '63daf2f122db3d92',
                            'machine_generated_instructions.jsonl': 'b30baa6de84049a1',
                            'rejected.jsonl': '90b89648676af455',
                            'requests.jsonl': '1b3294bc6feb94f8'},
 'upstream': {'all_generated_instances.jsonl': 'd54975f105ceaa8a',
              'finetuning/finetuning_alpaca.jsonl': 'd7220cf90b2d6b25',
              'finetuning/finetuning_messages.jsonl': '7b779c9088f6fd07',
              'finetuning/finetuning_prompt_completion.jsonl': '2423f969d5801537',
              'finetuning/gpt3_finetuning_data_306.jsonl': '2423f969d5801537',
              'is_clf_or_not_davinci_template_1.jsonl': '468511d57652d979',
              'machine_generated_instances.jsonl': 'deec50476be77ed6',
              'machine_generated_instructions.jsonl': '91e9d6fe949f38bf',
              'rejected.jsonl': '794afd1fea2b748c',
              'requests.jsonl': '7600a1a1cfb96aee'}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_full_run_writes_the_recorded_bytes(tmp_path, generate, case, upstream_seed_file):
    """Recorded with the original 175 seeds (`generate` uses them where ../shared has them)."""
    out = tmp_path / case
    assert generate(out, *CASES[case], num=30) == 0
    assert digests(out) == EXPECTED[case]
