"""Cost in USD from token usage, using an editable JSON price table.

The packaged table (`prices.json`) holds list prices per million tokens; `--price-table FILE`
replaces it. Lookup is by longest model-name prefix so dated snapshots (gpt-4o-2024-08-06)
inherit their family's price without an entry each. Batch prices (`batch_prompt`,
`batch_completion`) are what the Batch API charges; an entry without them is charged half its
live price there, as OpenAI's Batch API discounts every model it serves.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import InputError
from .base import Usage


@dataclass(frozen=True)
class Price:
    prompt: float  # USD per 1M prompt tokens
    completion: float  # USD per 1M completion tokens
    batch_prompt: float | None = None  # the Batch API's price; None: half of `prompt`
    batch_completion: float | None = None

    def per_million(self, batch: bool) -> tuple[float, float]:
        if not batch:
            return self.prompt, self.completion
        return (self.prompt / 2 if self.batch_prompt is None else self.batch_prompt,
                self.completion / 2 if self.batch_completion is None else self.batch_completion)


@dataclass
class PriceTable:
    models: dict[str, Price] = field(default_factory=dict)
    source: str = "packaged"

    def price(self, model: str) -> Price | None:
        name = model.rsplit("/", 1)[-1] if model.startswith(("openai/",)) else model
        best = None
        for key in self.models:
            if name == key or name.startswith(key + "-") or name.startswith(key + ":"):
                if best is None or len(key) > len(best):
                    best = key
        return self.models[best] if best is not None else None

    def cost(self, model: str, usage: Usage, *, batch: bool = False) -> float:
        p = self.price(model)
        if p is None:
            return 0.0
        prompt, completion = p.per_million(batch)
        return (usage.prompt_tokens * prompt + usage.completion_tokens * completion) / 1_000_000


def parse_price_table(data: object, source: str) -> PriceTable:
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise InputError('expected an object with a "models" mapping', file=source, field="models")
    table = {}
    for name, entry in models.items():
        try:
            batch = [entry.get(k) for k in ("batch_prompt", "batch_completion")]
            table[name] = Price(float(entry["prompt"]), float(entry["completion"]),
                                *(None if b is None else float(b) for b in batch))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError('each model needs numeric "prompt" and "completion" (USD per 1M tokens; '
                             'optional "batch_prompt", "batch_completion")',
                             file=source, field=f"models.{name}") from None
    return PriceTable(table, source=source)


def load_price_table(path: str | Path | None = None) -> PriceTable:
    if path is None:
        text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
        return parse_price_table(json.loads(text), "packaged")
    path = Path(path)
    if not path.exists():
        raise InputError("price table not found", file=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc})", file=path, line=exc.lineno) from None
    return parse_price_table(data, str(path))
