"""The human-readable end of `selfinstruct generate`: counts per step, a few examples, and where
the files are. Reads only the run directory, so it works for finished, stopped and replayed runs."""
from __future__ import annotations

from pathlib import Path

from ..jsonl import iter_jsonl
from ..rundir import RunPaths, read_manifest


def _head(path: Path, n: int) -> list[dict]:
    out: list[dict] = []
    if not path.exists():
        return out
    for _, rec in iter_jsonl(path, allow_torn_tail=True):
        out.append(rec)
        if len(out) >= n:
            break
    return out


def _one_per_task(path: Path, n: int) -> list[dict]:
    """The first instance of each of the first n tasks (examples from one task say little)."""
    out: list[dict] = []
    seen: set = set()
    if not path.exists():
        return out
    for _, rec in iter_jsonl(path, allow_torn_tail=True):
        if rec.get("instruction") not in seen:
            seen.add(rec.get("instruction"))
            out.append(rec)
            if len(out) >= n:
                break
    return out


def _short(text: str, width: int = 100) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def summary_text(root: str | Path, *, examples: int = 3) -> str:
    paths = RunPaths(Path(root))
    m = read_manifest(paths.manifest) or {}
    c = m.get("counts", {})
    b, k, i, f = c.get("bootstrap", {}), c.get("classify", {}), c.get("instances", {}), c.get("finetune", {})
    usage = m.get("usage", {})
    lines = [
        f"run: {paths.root}  status: {m.get('status')}  profile: {m.get('profile')}  model: {m.get('model')} ({m.get('framing')})",
        f"step 1 bootstrap : {b.get('prompts', 0)} prompts -> {b.get('candidates', 0)} candidates -> "
        f"{b.get('kept', 0)} kept; rejected {sum((b.get('rejected') or {}).values())} "
        f"({', '.join(f'{r} {n}' for r, n in sorted((b.get('rejected') or {}).items(), key=lambda x: -x[1]))})",
        f"step 2 classify  : {k.get('labelled', 0)} labelled, {k.get('classification', 0)} classification tasks",
        f"step 3 instances : {i.get('tasks', 0)} tasks answered ({i.get('failures', 0)} failed requests)",
        f"step 4 finetune  : {f.get('instances', 0)} instances kept for {f.get('tasks_with_instances', 0)} tasks; "
        f"{f.get('prompt_completion', 0)} prompt/completion, {f.get('messages', 0)} messages, {f.get('alpaca', 0)} alpaca records",
        f"tokens: {usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion; "
        f"cost ${m.get('cost_usd', 0.0):.4f}; time "
        + ", ".join(f"{s} {t:.1f}s" for s, t in (m.get("timings") or {}).items()),
    ]
    kept = _head(paths.instructions, examples)
    if kept:
        lines.append("example instructions:")
        lines += [f"  - {_short(r['instruction'])}" for r in kept]
    inst = _one_per_task(paths.all_instances, examples)
    if inst:
        lines.append("example instances:")
        for r in inst:
            lines.append(f"  - {_short(r['instruction'], 60)} | input: {_short(r['input'], 40) or '(none)'} | output: {_short(r['output'], 50)}")
    lines.append("files:")
    for p in (paths.instructions, paths.instances, paths.all_instances, paths.finetuning, paths.rejected,
              paths.requests, paths.manifest):
        if p.exists():
            lines.append(f"  {p}")
    return "\n".join(lines)
