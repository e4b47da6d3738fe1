"""Attention over flattened batches (packing, padding-free) without flash attention.

TRL hands the model one sequence per step, the rows laid end to end with position ids that
restart at each row and no attention mask. Under sdpa or eager, transformers then materializes a
block-diagonal mask over the whole flattened length: every layer pays for attention between all
pairs of tokens of the step, most of them masked, and the explicit mask keeps sdpa off its fused
causal kernels. That made packing slower than padding on CPU. Flash attention's varlen kernels
avoid this on a GPU; here each row gets its own causal sdpa call instead, so the work is the sum
of the rows' squared lengths, and rows of one length share a batched call to keep the Python
overhead per layer small.

Registered under its own name (`VARLEN`) in transformers' AttentionInterface, with a mask function
that skips the dense mask only where the attention function can recover the rows itself (no
padding mask, no cache offset); every other call goes to transformers' own sdpa.
"""
from __future__ import annotations

import importlib.util

VARLEN = "selfinstruct_varlen_sdpa"
_PREVIOUS = "_selfinstruct_attn_before_varlen"


def _row_lengths(query_length: int, position_ids, cu_seq_lens) -> list[int] | None:
    """Each row's length in order, or None when there is nothing to split (one row)."""
    if cu_seq_lens is not None and int(cu_seq_lens[-1]) == query_length:
        bounds = cu_seq_lens.tolist()
    elif position_ids is not None and position_ids.shape[-1] == query_length:
        import torch

        # the same rule transformers uses to find packed rows: a position that does not follow its predecessor
        pos = position_ids.reshape(-1, query_length)[0]
        starts = (torch.diff(pos) != 1).nonzero().flatten().add(1).tolist()
        bounds = [0, *starts, query_length]
    else:
        return None
    lengths = [b - a for a, b in zip(bounds, bounds[1:]) if b > a]
    return lengths if len(lengths) > 1 else None


def _gather(states, starts: list[int], length: int):
    """(rows, heads, length, dim) for the rows beginning at `starts`, from (1, heads, total, dim)."""
    if len(starts) == 1:
        return states[:, :, starts[0]:starts[0] + length]
    import torch

    index = (torch.tensor(starts, device=states.device)[:, None]
             + torch.arange(length, device=states.device)).flatten()
    return states.index_select(2, index).unflatten(2, (len(starts), length))[0].transpose(0, 1)


def varlen_sdpa_forward(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                        is_causal: bool | None = None, **kwargs):
    """transformers' attention-function contract (query/key/value as (batch, heads, length, dim), the
    output as (batch, length, heads, dim), no weights), causal within each row of a flattened batch."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward, use_gqa_in_sdpa

    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    length = query.shape[2]
    lengths = None
    if attention_mask is None and causal and query.shape[0] == 1 and key.shape[2] == length:
        lengths = _row_lengths(length, kwargs.get("position_ids"), kwargs.get("cu_seq_lens_q"))
    if attention_mask is None:
        # what a dense mask would have expressed and this path cannot; a sliding window is lost even
        # for one row, as varlen_mask skipped sdpa's windowed mask too. Refuse rather than train wrong.
        unsupported = [name for name in ("sliding_window", "softcap", "position_bias", "s_aux")
                       if kwargs.get(name) is not None or getattr(module, name, None) is not None]
        if unsupported and (lengths is not None or "sliding_window" in unsupported):
            raise ValueError(f"{VARLEN} attention does not support {', '.join(unsupported)}; use sdpa or flash attention")
    if lengths is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    extra = {}
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        if use_gqa_in_sdpa(None, key, value):
            extra["enable_gqa"] = True
        else:
            key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    by_length: dict[int, list[int]] = {}
    start = 0
    for n in lengths:
        by_length.setdefault(n, []).append(start)
        start += n
    pieces = []
    for n, starts in by_length.items():
        out = torch.nn.functional.scaled_dot_product_attention(
            _gather(query, starts, n), _gather(key, starts, n), _gather(value, starts, n),
            dropout_p=dropout, scale=scaling, is_causal=True, **extra)
        pieces.append(out.transpose(1, 2).reshape(len(starts) * n, out.shape[1], out.shape[3]))
    flat = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
    in_order = [s for starts in by_length.values() for s in starts]
    if in_order != sorted(in_order):  # the groups interleave: put each token back in its place
        order = torch.cat([(torch.tensor(starts)[:, None] + torch.arange(n)).flatten()
                           for n, starts in by_length.items()])
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(length)
        flat = flat.index_select(0, inverse.to(flat.device))
    return flat.unsqueeze(0).contiguous(), None


def varlen_mask(*, batch_size, q_length, kv_length, q_offset=0, kv_offset=0, attention_mask=None, **kwargs):
    """No mask where varlen_sdpa_forward separates the rows from the position ids itself; sdpa's
    mask wherever a padding mask or a cache shapes the attention."""
    from transformers.masking_utils import sdpa_mask

    plain = attention_mask is None and isinstance(q_offset, int) and q_offset == 0 and kv_offset == 0
    if plain and kv_length == q_length:
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length, q_offset=q_offset,
                     kv_offset=kv_offset, attention_mask=attention_mask, **kwargs)


def register() -> str:
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(VARLEN, varlen_sdpa_forward)
    AttentionMaskInterface.register(VARLEN, varlen_mask)
    return VARLEN


def _flash_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def choose_attention(model, flattened: bool, *, device: str, bf16: bool) -> str:
    """Set and return the attention implementation for a run: flash attention where the model
    already uses it or a bf16 CUDA run can (its varlen kernels separate the rows), this module's
    attention for other flattened batches, and otherwise what the model was loaded with (a model
    reused across runs, as the benchmark does, gets its implementation back)."""
    config = model.config
    current = config._attn_implementation or "sdpa"
    if current == VARLEN:
        current = vars(model).get(_PREVIOUS, "sdpa")
    wanted = current
    if flattened and not current.startswith("flash_attention"):
        if device == "cuda" and bf16 and _flash_available():
            try:
                model.set_attn_implementation("flash_attention_2")
                return "flash_attention_2"
            except (ImportError, ValueError):  # a flash-attn build this transformers refuses: not worth failing for
                pass
        register()
        vars(model)[_PREVIOUS] = current  # on the model: the config's attributes go into config.json
        wanted = VARLEN
    if wanted != config._attn_implementation:
        model.set_attn_implementation(wanted)
    return wanted
