"""Build a Hub-ready dataset folder from a run directory: Parquet per config and split, PNG
plots, and a README card whose YAML `configs` block makes `load_dataset(FOLDER, CONFIG)` work.

The folder is assembled in a temporary sibling and renamed into place at the end, so an
interrupted or failed build never leaves a half-written `--out` behind (and `--force` swaps an
old folder out only once the new one is complete).
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.rundir import RunPaths, read_manifest

from . import records
from .card import CardConfig, CardInfo, render_card
from .methods import Method, method_of
from .schema import RUN_CONFIGS
from .stats import compute_stats, write_plots

SHARD_BYTES = 256 * 1024 * 1024


@dataclass
class BuildResult:
    folder: Path
    configs: dict[str, dict[str, int]]  # config -> split -> rows
    skipped: dict[str, str] = field(default_factory=dict)  # config -> why
    plots: dict[str, str] = field(default_factory=dict)


def seed_instructions(seeds: Path | None, manifest: dict | None, *, warn=print) -> list[str]:
    """Seeds to measure novelty against: --seeds, else the run's seed file, else the packaged set."""
    from selfinstruct.generation.seeds import default_seed_path, load_seed_tasks

    if seeds is not None:
        return [t.instruction for t in load_seed_tasks(seeds)]
    candidates = []
    recorded = ((manifest or {}).get("seed_tasks") or {}).get("path")
    if isinstance(recorded, str):
        candidates.append(Path(recorded))
    candidates.append(default_seed_path())
    for path in candidates:
        if path.is_file():
            try:
                return [t.instruction for t in load_seed_tasks(path)]
            except InputError as exc:
                warn(f"warning: seed file unusable for statistics: {exc}")
    warn("warning: no seed file found; the ROUGE-L-to-seeds statistic is left out (pass --seeds)")
    return []


def write_parquet(dataset, folder: Path, config: str, split: str) -> list[str]:
    """Write one split as `config/split-0000k-of-0000n.parquet` shards; returns repo-relative paths."""
    shards = max(1, math.ceil(dataset.data.nbytes / SHARD_BYTES))
    paths = []
    for k in range(shards):
        rel = f"{config}/{split}-{k:05d}-of-{shards:05d}.parquet"
        (folder / config).mkdir(parents=True, exist_ok=True)
        dataset.shard(num_shards=shards, index=k, contiguous=True).to_parquet(str(folder / rel))
        paths.append(rel)
    return paths


def _prepare(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", file=folder)


def build_folder(run_dir: str | Path, out: str | Path, *, seeds: str | Path | None = None,
                 pretty_name: str | None = None, license: str = "apache-2.0", repo_id: str | None = None,
                 validation_size: float = 0.0, force: bool = False, progress: bool = True,
                 log=None) -> BuildResult:
    import selfinstruct_dataset as sd

    log = log or (lambda msg: print(msg, file=sys.stderr))
    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise InputError("run directory not found", file=run_dir)
    _prepare(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise InputError("output folder exists and is not empty (pass --force to replace it)", file=out)
    if out.resolve() == run_dir.resolve() or run_dir.resolve() in out.resolve().parents:
        raise InputError("the output folder must not be inside the run directory", file=out)
    manifest = read_manifest(RunPaths(run_dir).manifest)
    method = method_of(manifest, RunPaths(run_dir).manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-{os.getpid()}-", dir=out.parent))
    try:
        result = _build_into(sd, run_dir, tmp, manifest=manifest, method=method,
                             seeds=None if seeds is None else Path(seeds),
                             pretty_name=pretty_name or f"{method.title} data: {run_dir.name}", license=license,
                             repo_id=repo_id, validation_size=validation_size, progress=progress, log=log)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.folder = out
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove_abandoned_builds(out: Path) -> None:
    """Delete temp folders of earlier builds of `out` whose process is gone (killed mid-build).

    The builder's pid is part of the temp folder's name, so a build that is still running in
    another process is never touched.
    """
    prefix = f".{out.name}.building-"
    for sibling in out.parent.glob(f"{prefix}*"):
        pid = sibling.name[len(prefix):].split("-", 1)[0]
        if sibling.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(sibling, ignore_errors=True)


def _swap_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _build_into(sd, run_dir: Path, folder: Path, *, manifest, method: Method, seeds, pretty_name, license, repo_id,
                validation_size, progress, log) -> BuildResult:
    cache = folder / ".cache"
    result = BuildResult(folder=folder, configs={})
    card_configs: list[CardConfig] = []
    for spec in RUN_CONFIGS:
        if spec.method not in (None, method.name):
            continue  # another method's config: not "skipped", it never applied
        try:
            builder = sd.SelfInstruct(config_name=spec.name, data_dir=str(run_dir), cache_dir=str(cache),
                                      validation_size=validation_size)
            sd.prepare(builder)
        except records.MissingInput as exc:
            result.skipped[spec.name] = str(exc)
            log(f"skipping config {spec.name}: {exc}")
            continue
        dd = sd.as_dataset_dict(builder)
        if sum(len(d) for d in dd.values()) == 0:
            result.skipped[spec.name] = "no rows"
            log(f"skipping config {spec.name}: no rows")
            continue
        files = {split: write_parquet(dd[split], folder, spec.name, split) for split in dd}
        rows = {split: len(dd[split]) for split in dd}
        card_configs.append(CardConfig(spec.name, files, rows))
        result.configs[spec.name] = rows
    shutil.rmtree(cache, ignore_errors=True)
    if not card_configs:
        raise InputError("the run directory holds no generated data yet (no instances, instructions or "
                         "finetuning records)", file=run_dir)

    stats = None
    if "instances" in result.configs or "instructions" in result.configs:
        instances = list(records.read_instances(run_dir)) if "instances" in result.configs else []
        kept = list(records.read_instructions(run_dir)) if "instructions" in result.configs else None
        labels = {r["instruction"]: r["is_classification"] for r in kept} if kept else None
        stats = compute_stats(instances, [r["instruction"] for r in kept] if kept is not None else None,
                              seed_instructions(seeds, manifest, warn=log), labels=labels, progress=progress)
        result.plots = write_plots(stats, folder)

    names = [c.name for c in card_configs]
    info = CardInfo(pretty_name=pretty_name, configs=card_configs,
                    default="instances" if "instances" in names else names[0], license=license,
                    manifest=manifest, stats=stats, plots=result.plots, repo_hint=repo_id or "ORG/NAME",
                    method=method)
    secrets = tuple(v for k, v in os.environ.items() if _env_is_secret(k))
    (folder / "README.md").write_text(render_card(info, extra_secrets=secrets), encoding="utf-8")
    return result


def _env_is_secret(name: str) -> bool:
    from .card import is_secret_key

    return is_secret_key(name) and len(os.environ.get(name, "")) >= 8
