"""Cost in USD from token usage, using an editable JSON price table.

The packaged table (`prices.json`) holds list prices per million tokens; `--price-table FILE`
replaces it. Lookup is by longest model-name prefix so dated snapshots (gpt-4o-2024-08-06)
inherit their family's price without an entry each.
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

    def cost(self, model: str, usage: Usage) -> float:
        p = self.price(model)
        if p is None:
            return 0.0
        return (usage.prompt_tokens * p.prompt + usage.completion_tokens * p.completion) / 1_000_000


def parse_price_table(data: object, source: str) -> PriceTable:
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise InputError('expected an object with a "models" mapping', file=source, field="models")
    table = {}
    for name, entry in models.items():
        try:
            table[name] = Price(float(entry["prompt"]), float(entry["completion"]))
        except (KeyError, TypeError, ValueError):
            raise InputError('each model needs numeric "prompt" and "completion" (USD per 1M tokens)',
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
