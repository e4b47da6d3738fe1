"""OpenAI's presence and frequency penalties as a transformers logits processor.

OpenAI defines them on the logits before sampling, counting only tokens the model has already
*generated* for this completion (not the prompt):

    logit[j] -= frequency_penalty * count[j] + presence_penalty * (count[j] > 0)

transformers' `repetition_penalty` is a different thing (multiplicative, and it counts the
prompt too), so mapping onto it would change what a run means; this processor is exact. It must
run before temperature and top-p (the transformers backend orders the processors that way).
"""
from __future__ import annotations

import torch
from transformers import LogitsProcessor


class OpenAIPenaltyProcessor(LogitsProcessor):
    def __init__(self, presence_penalty: float = 0.0, frequency_penalty: float = 0.0) -> None:
        self.presence = float(presence_penalty)
        self.frequency = float(frequency_penalty)
        self._start: int | None = None  # length of the (padded) prompt: the first call's length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._start is None:
            self._start = input_ids.shape[1]
        generated = input_ids[:, self._start:]
        if generated.shape[1] == 0 or (self.presence == 0 and self.frequency == 0):
            return scores
        counts = torch.zeros_like(scores)
        counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return penalize(scores, counts, self.presence, self.frequency)


def penalize(scores: torch.Tensor, counts: torch.Tensor, presence: float, frequency: float) -> torch.Tensor:
    """The penalised scores, given each row's counts of the tokens it has generated."""
    return scores - frequency * counts - presence * (counts > 0).to(scores.dtype)
