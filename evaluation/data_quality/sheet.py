"""The data-quality questions as a rating sheet for people, and the reader for its exports.

The page is the user-oriented rating sheet in its questions mode (same template, script and
storage), so both evaluations' sheets behave alike and a fix to one reaches the other. Items
are not blind: there is no model to hide, only a run's own instances.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from selfinstruct.generation.errors import InputError

from ..user_oriented.sheet import open_export, render_page
from .items import Item
from .judge import DQRating
from .spec import ANSWERS, DataQualitySpec

EXPORT_FORMAT = "selfinstruct-data-quality-ratings"


def sheet_id(items: Sequence[Item], spec: DataQualitySpec) -> str:
    content = json.dumps([[i.to_json() for i in items], spec.version], ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def build_sheet(items: Sequence[Item], spec: DataQualitySpec, *, title: str | None = None) -> str:
    title = title or f"Rate generated data ({len(items)} items)"
    data = {"sheet_id": sheet_id(items, spec), "blind": False, "title": title,
            "export_format": EXPORT_FORMAT, "response_label": "Output",
            "questions": [{"key": q.key, "text": q.text} for q in spec.questions],
            "items": [{"key": f"item-{n}", "id": i.id, "model": "run", "instruction": i.instruction,
                       "input": i.input, "response": i.output} for n, i in enumerate(items)]}
    return render_page(data, title)


def ratings_from_export(path: str | Path, *, known_ids: set[str], keys: Sequence[str],
                        rater: str | None = None) -> tuple[list[DQRating], int]:
    """`human:<name>` ratings from a sheet export; returns (ratings, entries with no answer).

    A person may leave a question open: only the answers given are kept, and each question's
    share counts the items answered for it."""
    path = Path(path)
    obj, entries, name = open_export(path, EXPORT_FORMAT, "a data-quality sheet export", rater)
    out, seen, empty = [], set(), 0
    for n, e in enumerate(entries):
        where = f"ratings[{n}]"
        if not isinstance(e, dict) or e.get("id") not in known_ids:
            raise InputError(f"not an item of this folder's sample ({e.get('id') if isinstance(e, dict) else e!r})",
                             file=path, field=f"{where}.id")
        answers = e.get("answers") or {}
        if not isinstance(answers, dict) or any(k not in keys or v not in ANSWERS for k, v in answers.items()):
            raise InputError(f"expected {{question: yes|no}} with questions {', '.join(keys)}", file=path,
                             field=f"{where}.answers")
        if e["id"] in seen:
            raise InputError(f"item {e['id']} appears twice", file=path, field=where)
        seen.add(e["id"])
        if not answers:
            empty += 1
            continue
        out.append(DQRating(e["id"], f"human:{name}", dict(answers), None,
                            {"note": e.get("note") or None, "sheet_id": obj.get("sheet_id")}))
    return out, empty
