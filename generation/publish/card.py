"""The dataset card: YAML front matter the Hub and `load_dataset` read, and prose a reader needs
(provenance from the run manifest, schema, statistics, citation).

The manifest is scrubbed before anything from it reaches the card: a key that names a secret is
dropped and a value that looks like one is redacted, whatever the run wrote. The prose lives in
`card_template.md`; this module only fills it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Any

import yaml

from ..redact import strip_local_paths

from .methods import SELF_INSTRUCT, Method
from .schema import CONFIGS
from .stats import DatasetStats

# ------------------------------------------------------------------ secrets

_SECRET_KEY = re.compile(
    r"(api[_-]?key|apikey|secret|passw|credential|authoriz|bearer|cookie|private[_-]?key|session[_-]?key"
    r"|(^|[_-])token$|^token($|[_-])|(^|[_-])auth($|[_-]))",
    re.IGNORECASE,
)
_SECRET_VALUE = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}"),                  # OpenAI-style keys
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),                      # Hugging Face tokens
    re.compile(r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{16,}"),
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/\-]+=*", re.IGNORECASE),
]
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)[^/\s@]+@", re.IGNORECASE)
REDACTED = "[redacted]"


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    for pattern in _SECRET_VALUE:
        text = pattern.sub(REDACTED, text)
    return _URL_USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", text)


def scrub(obj: Any, *, extra_values: tuple[str, ...] = ()) -> Any:
    """A copy of `obj` without secret-named keys and with secret-looking strings redacted.

    `extra_values` are literal strings (e.g. the token in the environment) redacted wherever
    they appear, whatever their shape.
    """
    if isinstance(obj, dict):
        return {k: scrub(v, extra_values=extra_values) for k, v in obj.items()
                if not (isinstance(k, str) and is_secret_key(k))}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, extra_values=extra_values) for v in obj]
    if isinstance(obj, str):
        text = redact_text(obj)
        for value in extra_values:
            if value and len(value) >= 8:
                text = text.replace(value, REDACTED)
        return text
    return obj


# ------------------------------------------------------------------ front matter


def size_category(n: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M")]
    for bound, label in bounds:
        if n < bound:
            return label
    return "10M<n<100M"


@dataclass
class CardConfig:
    """What the front matter says about one config: its split files and row counts."""

    name: str
    data_files: dict[str, list[str]]  # split -> repo-relative parquet paths
    rows: dict[str, int]


@dataclass
class CardInfo:
    pretty_name: str
    configs: list[CardConfig]
    default: str
    license: str = "apache-2.0"
    language: list[str] = field(default_factory=lambda: ["en"])
    tags: list[str] = field(default_factory=lambda: ["self-instruct", "instruction-tuning", "synthetic"])
    manifest: dict | None = None
    stats: DatasetStats | None = None
    plots: dict[str, str] = field(default_factory=dict)
    repo_hint: str = "ORG/NAME"
    method: Method = SELF_INSTRUCT  # credited in the opening paragraph and the citation


def front_matter(info: CardInfo) -> dict:
    largest = max((sum(c.rows.values()) for c in info.configs), default=0)
    configs = []
    for c in info.configs:
        entry: dict[str, Any] = {
            "config_name": c.name,
            "data_files": [{"split": split, "path": paths if len(paths) > 1 else paths[0]}
                           for split, paths in c.data_files.items()],
        }
        if c.name == info.default:
            entry["default"] = True
        configs.append(entry)
    return {
        "license": info.license,
        "language": info.language,
        "task_categories": ["text-generation"],
        "size_categories": [size_category(largest)],
        "pretty_name": info.pretty_name,
        "tags": info.tags,
        "configs": configs,
    }


# ------------------------------------------------------------------ prose sections


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def schema_section(info: CardInfo) -> str:
    parts = []
    for c in info.configs:
        spec = CONFIGS.get(c.name)
        counts = ", ".join(f"{split}: {n:,}" for split, n in c.rows.items())
        parts.append(f"### `{c.name}`{' (default)' if c.name == info.default else ''}\n")
        if spec is not None:
            parts.append(f"{spec.description} Version {spec.version}. Rows: {counts}.\n\n")
            parts.append(_table(["column", "meaning"], [[f"`{k}`", v] for k, v in spec.columns.items()]))
        else:
            parts.append(f"Rows: {counts}.\n")
        parts.append("\n")
    return "".join(parts)


def loading_snippet(info: CardInfo) -> str:
    lines = [f'ds = load_dataset("{info.repo_hint}", "{c.name}")' for c in info.configs[:2]]
    return "\n".join(lines)


def _fmt_num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:,.4f}"


def provenance_section(manifest: dict | None) -> str:
    if not manifest:
        return ("No run manifest was found: this folder was written by the original Self-Instruct scripts "
                "or by hand, so model, settings, token counts and cost are unknown. Instruction ids were "
                "derived from a hash of the instruction text.\n")
    m = manifest
    seeds = m.get("seed_tasks") or {}
    usage = m.get("usage") or {}
    rows = [
        ["model", m.get("model", "unknown")],
        ["backend", m.get("backend", "unknown")],
        ["profile", m.get("profile", "unknown")],
        ["seed tasks", f"{seeds.get('count', '?')} tasks from `{seeds.get('path', '?')}`"],
        ["seed file sha256", f"`{seeds.get('sha256', '?')}`"],
        ["random seed", m.get("random_seed", "?")],
        ["status", m.get("status", "?")],
        ["prompt tokens", _fmt_num(usage.get("prompt_tokens", "?"))],
        ["completion tokens", _fmt_num(usage.get("completion_tokens", "?"))],
        ["cost (USD)", f"{m['cost_usd']:.2f}" if isinstance(m.get("cost_usd"), (int, float)) else "?"],
        ["settings hash", f"`{m.get('settings_hash', '?')}`"],
    ]
    out = [_table(["", "value"], rows), "\n"]
    counts = m.get("counts") or {}
    if counts:
        out.append("Counts per step (rejections by rule where the step records them):\n\n")
        crow = []
        for step, c in counts.items():
            if isinstance(c, dict):
                flat = ", ".join(f"{k}: {_fmt_num(v)}" if not isinstance(v, dict) else
                                 f"{k}: " + ", ".join(f"{kk} {_fmt_num(vv)}" for kk, vv in v.items())
                                 for k, v in c.items())
            else:
                flat = _fmt_num(c)
            crow.append([step, flat])
        out.append(_table(["step", "counts"], crow) + "\n")
    versions = m.get("versions") or {}
    if versions:
        out.append("Software: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".\n\n")
    settings = m.get("settings") or {}
    if settings:
        out.append("All run settings (profile, sampling and filter settings):\n\n```yaml\n"
                   + yaml.safe_dump(settings, sort_keys=True, allow_unicode=True, width=100) + "```\n")
    return "".join(out)


def statistics_section(stats: DatasetStats | None, plots: dict[str, str]) -> str:
    if stats is None:
        return "No instance-level data in this dataset.\n"
    out = [_table(["", "value"], [
        ["instructions", f"{stats.instructions:,}"],
        ["instances", f"{stats.instances:,}"],
        ["classification instructions",
         "unknown" if stats.classification is None else f"{stats.classification:,}"],
        ["instances with an empty input", f"{stats.empty_input:,}"],
        ["seed instructions compared against", f"{stats.seed_count:,}"],
    ]), "\n"]
    out.append(_table(["distribution", "n", "mean", "median", "p90", "max"], [
        [name, f"{s.count:,}", f"{s.mean:.2f}", f"{s.median:.2f}", f"{s.p90:.2f}", f"{s.max:g}"]
        for name, s in stats.summaries().items() if s.count
    ]) + "\n")
    if stats.seed_rouge:
        low = sum(s < 0.3 for s in stats.seed_rouge) / len(stats.seed_rouge)
        out.append(f"{low:.1%} of the instructions have ROUGE-L below 0.3 to every seed instruction.\n\n")
    titles = {"instruction_length": "Instruction length", "output_length": "Input and output length",
              "rouge_to_seeds": "ROUGE-L to the nearest seed", "leading_verbs": "Most common leading words"}
    for name, rel in plots.items():
        out.append(f"![{titles.get(name, name)}]({rel})\n\n")
    if stats.verbs:
        out.append("Most common first words: " + ", ".join(f"{w} ({n:,})" for w, n in stats.verbs[:10]) + ".\n")
    return "".join(out)


def status_note(manifest: dict | None) -> str:
    """What the reader should know about how the data came to be, if it was not one finished run."""
    status = (manifest or {}).get("status")
    if not status or status == "complete":
        return ""
    if status == "replayed":
        source = (manifest or {}).get("source_format")
        what = ("a batch written by the original Self-Instruct scripts" if source == "upstream"
                else "the request log of an earlier run")
        return (f"> **Note:** these files were re-derived offline (`selfinstruct replay`) from {what}: the "
                "recorded responses were filtered again, and no model was called.\n")
    return f"> **Note:** the generation run stopped before completion (status `{status}`).\n"


def _template() -> Template:
    return Template(resources.files(__package__).joinpath("card_template.md").read_text(encoding="utf-8"))


def render_card(info: CardInfo, *, extra_secrets: tuple[str, ...] = ()) -> str:
    manifest = strip_local_paths(scrub(info.manifest, extra_values=extra_secrets)) if info.manifest else None
    note = status_note(manifest)
    text = _template().substitute(
        front_matter=yaml.safe_dump(front_matter(info), sort_keys=False, allow_unicode=True, width=100),
        pretty_name=info.pretty_name,
        method_intro=info.method.intro,
        status_note=note,
        loading=loading_snippet(info),
        schema=schema_section(info),
        provenance=provenance_section(manifest),
        statistics=statistics_section(info.stats, info.plots),
        quality_note=info.method.quality_note,
        citation_note=info.method.citation_note,
        citation=info.method.citation,
    )
    # Last line of defence: nothing secret-shaped survives, whichever section it came through.
    text = redact_text(text)
    for value in extra_secrets:
        if value and len(value) >= 8:
            text = text.replace(value, REDACTED)
    return text


def parse_front_matter(readme: str) -> dict:
    """The YAML block at the top of a card ({} when there is none)."""
    if not readme.startswith("---"):
        return {}
    end = readme.find("\n---", 3)
    if end < 0:
        return {}
    data = yaml.safe_load(readme[3:end])
    return data if isinstance(data, dict) else {}


def manifest_json(manifest: dict) -> str:
    return json.dumps(scrub(manifest), indent=2, ensure_ascii=False)
