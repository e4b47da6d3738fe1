"""The human rating sheet: one self-contained HTML file (no server, no external URL), and the
reader for the JSON it exports.

Items carry an opaque `key`. In blind mode the page holds no model names at all (not even in
its source) and the order is shuffled with a seed; the key -> (task, model) map is written to a
separate key file that stays with the person running the study and is needed to import.
"""
from __future__ import annotations

import hashlib
import html
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from selfinstruct.generation.errors import InputError

from .judge import rubric
from .predictions import Prediction
from .ratings import Rating
from .stats import GRADES
from .tasks import UserTask

EXPORT_FORMAT = "selfinstruct-user-oriented-ratings"
KEY_FORMAT = "selfinstruct-user-oriented-sheet-key"


def _asset(name: str) -> str:
    return resources.files("selfinstruct.evaluation.user_oriented.sheet_assets").joinpath(name).read_text("utf-8")


def _item_key(sheet_salt: str, task_id: str, model: str) -> str:
    return "item-" + hashlib.sha256(f"{sheet_salt}\0{task_id}\0{model}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Sheet:
    html: str
    sheet_id: str
    key_map: dict[str, dict[str, str]]  # key -> {"id", "model"}
    blind: bool

    def key_file_json(self) -> dict:
        return {"format": KEY_FORMAT, "sheet_id": self.sheet_id, "blind": self.blind, "items": self.key_map}


def _script_json(obj: object) -> str:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element early."""
    text = json.dumps(obj, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_sheet(predictions: Sequence[Prediction], tasks: Sequence[UserTask], *, blind: bool = False,
                seed: int = 0, title: str | None = None) -> Sheet:
    by_id = {t.id: t for t in tasks}
    order = {t.id: i for i, t in enumerate(tasks)}
    models = list(dict.fromkeys(p.model for p in predictions))
    preds = sorted(predictions, key=lambda p: (order[p.id], models.index(p.model)))
    content_hash = hashlib.sha256(
        json.dumps([[p.id, p.model, p.response] for p in preds], ensure_ascii=False).encode()).hexdigest()
    sheet_id = hashlib.sha256(f"{content_hash}|blind={blind}|seed={seed}".encode()).hexdigest()[:16]
    salt = f"{sheet_id}|{seed}"
    items, key_map = [], {}
    for p in preds:
        task = by_id[p.id]
        key = _item_key(salt, p.id, p.model)
        key_map[key] = {"id": p.id, "model": p.model}
        item = {"key": key, "instruction": task.instruction, "input": task.input, "reference": task.output,
                "response": p.response}
        if not blind:
            item.update(id=p.id, model=p.model)
        items.append(item)
    if blind:
        random.Random(seed).shuffle(items)
    if title is None:
        title = "Rate responses: " + ("blind" if blind else ", ".join(models))
    data = {"sheet_id": sheet_id, "blind": blind, "title": title, "grades": rubric(), "items": items}
    return Sheet(render_page(data, title), sheet_id, key_map, blind)


def render_page(data: dict, title: str) -> str:
    """The self-contained page for `data` (sheet_id, items with a key each, and either `grades`
    or `questions`); the data-quality sheet is this page in its questions mode."""
    page = _asset("sheet.html")
    page = page.replace("{{CSS}}", _asset("sheet.css")).replace("{{JS}}", _asset("sheet.js"))
    page = page.replace("{{TITLE}}", html.escape(title))
    return page.replace("{{DATA}}", _script_json(data))  # last: item text may contain "{{...}}"


def load_json(path: Path) -> object:
    if not path.is_file():
        raise InputError("file not found", file=path)
    try:
        return json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON ({exc})", file=path) from None


def load_key_file(path: str | Path) -> dict:
    path = Path(path)
    obj = load_json(path)
    if not isinstance(obj, dict) or obj.get("format") != KEY_FORMAT or not isinstance(obj.get("items"), dict):
        raise InputError(f"not a rating-sheet key file (format {KEY_FORMAT!r})", file=path, field="format")
    return obj


def open_export(path: Path, export_format: str, what: str, rater: str | None) -> tuple[dict, list, str]:
    """(the export, its entries, the rater's name without `human:`) after the checks every
    sheet's export gets, so both sheets refuse a wrong file with the same one-line errors."""
    obj = load_json(path)
    if not isinstance(obj, dict) or obj.get("format") != export_format:
        raise InputError(f"not {what} (format {export_format!r})", file=path, field="format")
    entries = obj.get("ratings")
    if not isinstance(entries, list):
        raise InputError("expected a list", file=path, field="ratings")
    name = (rater or obj.get("rater") or "").strip().removeprefix("human:")
    if not name:
        raise InputError("the export has no rater name; pass --rater NAME", file=path, field="rater")
    return obj, entries, name


def ratings_from_export(path: str | Path, *, rater: str | None = None, key_file: str | Path | None = None,
                        known_ids: set[str] | None = None) -> tuple[list[Rating], int]:
    """Turn a sheet export into `human:<name>` ratings; returns (ratings, entries without a grade).

    Entries with only a note are not ratings and are left out (counted), so "unrated" in a
    report keeps meaning "a rater looked and could not decide" for LLM judges only.
    """
    path = Path(path)
    obj, entries, name = open_export(path, EXPORT_FORMAT, "a rating-sheet export", rater)
    keys = None
    if key_file is not None:
        kf = load_key_file(key_file)
        if kf.get("sheet_id") != obj.get("sheet_id"):
            raise InputError(f"key file is for sheet {kf.get('sheet_id')!r}, export is from sheet "
                             f"{obj.get('sheet_id')!r}", file=key_file, field="sheet_id")
        keys = kf["items"]
    elif obj.get("blind"):
        raise InputError("this export comes from a blind sheet; pass --key with the sheet's key file",
                         file=path, field="blind")
    out: list[Rating] = []
    seen: set[tuple[str, str]] = set()
    without_grade = 0
    for n, e in enumerate(entries):
        where = f"ratings[{n}]"
        if not isinstance(e, dict):
            raise InputError("expected an object", file=path, field=where)
        if keys is not None:
            target = keys.get(e.get("key"))
            if target is None:
                raise InputError(f"unknown item key {e.get('key')!r} (not in the key file)", file=path,
                                 field=f"{where}.key")
            task_id, model = target["id"], target["model"]
        else:
            task_id, model = e.get("id"), e.get("model")
            for fname, value in (("id", task_id), ("model", model)):
                if not isinstance(value, str) or not value:
                    raise InputError("missing", file=path, field=f"{where}.{fname}")
        if known_ids is not None and task_id not in known_ids:
            raise InputError(f"unknown task id {task_id!r} (not one of the user-oriented tasks)", file=path,
                             field=f"{where}.id")
        grade = e.get("rating")
        if grade is not None and grade not in GRADES:
            raise InputError(f"expected one of A, B, C, D or null, got {grade!r}", file=path, field=f"{where}.rating")
        if (task_id, model) in seen:
            raise InputError(f"item {task_id}/{model} appears twice", file=path, field=where)
        seen.add((task_id, model))
        if grade is None:
            without_grade += 1
            continue
        note = e.get("note") or None
        out.append(Rating(task_id, model, f"human:{name}", grade, note, None,
                          {"sheet_id": obj.get("sheet_id"), "updated": e.get("updated")}))
    return out, without_grade
