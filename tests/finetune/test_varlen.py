"""The varlen attention on its own, against transformers' sdpa run on each row (no model, fast).

Rows of one length are batched together, so lengths that interleave are what exercise putting
the tokens back in their places; grouped-query heads are what exercise the key/value expansion.
"""
from __future__ import annotations

import types

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from selfinstruct.evaluation.finetune.varlen import varlen_mask, varlen_sdpa_forward  # noqa: E402
from transformers.integrations.sdpa_attention import sdpa_attention_forward  # noqa: E402
from transformers.masking_utils import sdpa_mask  # noqa: E402

LENGTHS = [5, 3, 5, 1, 3, 7, 1]
MODULE = types.SimpleNamespace(num_key_value_groups=3, is_causal=True)


def _states(heads=6, kv_heads=2, dim=8):
    gen = torch.Generator().manual_seed(0)
    total = sum(LENGTHS)
    shapes = [(1, heads, total, dim), (1, kv_heads, total, dim), (1, kv_heads, total, dim)]
    return [torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True) for s in shapes]


def _each_row_alone(q, k, v):
    out, start = [], 0
    for n in LENGTHS:
        rows = [t[:, :, start:start + n] for t in (q, k, v)]
        out.append(sdpa_attention_forward(MODULE, *rows, None, scaling=0.3)[0])
        start += n
    return torch.cat(out, dim=1)


def _boundaries():
    ends = torch.tensor(LENGTHS).cumsum(0)
    positions = torch.cat([torch.arange(n) for n in LENGTHS])[None]
    return {"position_ids": {"position_ids": positions},
            "cu_seq_lens": {"cu_seq_lens_q": torch.cat([torch.zeros(1), ends]).to(torch.int32),
                            "position_ids": torch.zeros_like(positions)}}  # cu_seq_lens win over positions


@pytest.mark.parametrize("given", ["position_ids", "cu_seq_lens"])
def test_each_row_attends_only_to_itself(given):
    q, k, v = _states()
    expected = _each_row_alone(q, k, v)
    got, weights = varlen_sdpa_forward(MODULE, q, k, v, None, scaling=0.3, **_boundaries()[given])
    assert weights is None and got.shape == expected.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected)
    for a, b in zip(torch.autograd.grad(got.square().sum(), (q, k, v)),
                    torch.autograd.grad(expected.square().sum(), (q, k, v))):
        torch.testing.assert_close(a, b)


def test_anything_but_a_flattened_batch_is_plain_sdpa():
    q, k, v = _states()
    mask = torch.ones(1, 1, q.shape[2], q.shape[2], dtype=torch.bool).tril()
    expected = sdpa_attention_forward(MODULE, q, k, v, mask, scaling=0.3)[0]
    positions = _boundaries()["position_ids"]
    torch.testing.assert_close(varlen_sdpa_forward(MODULE, q, k, v, mask, scaling=0.3, **positions)[0], expected)
    torch.testing.assert_close(varlen_sdpa_forward(MODULE, q, k, v, None, scaling=0.3)[0], expected)


def test_the_mask_is_skipped_only_without_padding_or_cache():
    sizes = {"batch_size": 1, "q_length": 6, "kv_length": 6}
    assert varlen_mask(**sizes) is None
    padded = varlen_mask(**sizes, attention_mask=torch.tensor([[1, 1, 1, 1, 0, 0]], dtype=torch.bool))
    assert padded is not None and not bool(padded[0, 0, 5, 5])
    decoding = {"batch_size": 1, "q_length": 2, "kv_length": 6, "q_offset": 4, "allow_is_causal_skip": False}
    torch.testing.assert_close(varlen_mask(**decoding), sdpa_mask(**decoding))  # a cache: sdpa's mask


def test_flattened_runs_switch_to_varlen_and_padded_runs_switch_back():
    from selfinstruct.evaluation.finetune.varlen import VARLEN, choose_attention
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config)
    assert model.config._attn_implementation == "sdpa"
    assert choose_attention(model, True, device="cpu", bf16=False) == VARLEN
    assert model.config._attn_implementation == VARLEN
    assert choose_attention(model, False, device="cpu", bf16=False) == "sdpa"  # a reused model gets its own back
    model.set_attn_implementation("eager")
    assert choose_attention(model, False, device="cpu", bf16=False) == "eager"
    assert "attn_implementation" not in model.config.to_json_string()


def test_a_sliding_window_is_refused_rather_than_dropped():
    q, k, v = _states()
    windowed = types.SimpleNamespace(num_key_value_groups=3, is_causal=True, sliding_window=4)
    with pytest.raises(ValueError, match="sliding_window"):
        varlen_sdpa_forward(windowed, q, k, v, None, scaling=0.3)
