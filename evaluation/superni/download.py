"""Fetch the SuperNI test tasks into a local cache laid out like the natural-instructions repo
(`tasks/<name>.json`, `splits/default/test_tasks.txt`), so the cache is itself a `--data-dir`.

Resumable by construction: a task already in the cache that parses and passes the schema check
is skipped; everything is downloaded to memory, verified, then written atomically, so an
interrupted or corrupt download never leaves a file that looks finished.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.generation.cache import cache_root, fetch_bytes
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import atomic_writer

from .data import TASKS_DIR, TEST_SPLIT, load_task, parse_task_bytes, read_task_list

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/allenai/natural-instructions/master"
BASE_URL_ENV = "SELFINSTRUCT_SUPERNI_BASE_URL"


def default_cache_dir() -> Path:
    return cache_root() / "superni" / "natural-instructions"


def default_base_url() -> str:
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


@dataclass
class DownloadReport:
    cache_dir: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _cached_ok(path: Path) -> bool:
    try:
        load_task(path, max_instances=None)
        return True
    except InputError:
        return False


def _get_task(name: str, cache_dir: Path, base_url: str, timeout: float, retries: int) -> str:
    path = cache_dir / TASKS_DIR / f"{name}.json"
    if path.exists() and _cached_ok(path):
        return "skipped"
    data = fetch_bytes(f"{base_url}/tasks/{name}.json", timeout=timeout, retries=retries)
    parse_task_bytes(data, name, Path(f"{base_url}/tasks/{name}.json"), max_instances=None)
    with atomic_writer(path, "wb") as fh:
        fh.write(data)
    return "downloaded"


def ensure_split(cache_dir: Path, base_url: str, *, timeout: float = 60, retries: int = 3) -> list[str]:
    path = cache_dir / TEST_SPLIT
    if path.exists():
        try:
            return read_task_list(path)
        except InputError:
            pass
    url = f"{base_url}/{TEST_SPLIT.as_posix()}"
    try:
        data = fetch_bytes(url, timeout=timeout, retries=retries)
    except OSError as exc:
        raise InputError(f"could not download the test split ({exc})", file=url) from None
    with atomic_writer(path, "wb") as fh:
        fh.write(data)
    return read_task_list(path)


def download_tasks(cache_dir: str | Path | None = None, *, tasks: Sequence[str] | None = None,
                   base_url: str | None = None, timeout: float = 60, retries: int = 3,
                   workers: int = 8, progress: bool = True) -> DownloadReport:
    """Download the named tasks (default: the 119 English test tasks) into `cache_dir`.

    Raises `InputError` listing what failed after trying everything; what did arrive stays
    cached, so rerunning resumes.
    """
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    base_url = (base_url or default_base_url()).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise InputError("must be an http(s) URL", file=base_url, field="base_url")
    names = list(tasks) if tasks else ensure_split(cache_dir, base_url, timeout=timeout, retries=retries)
    report = DownloadReport(cache_dir)
    from tqdm import tqdm

    bar = tqdm(total=len(names), desc="superni download", unit="task", disable=not progress)

    def one(name: str) -> tuple[str, str, str]:
        try:
            return name, _get_task(name, cache_dir, base_url, timeout, retries), ""
        except (OSError, InputError) as exc:
            return name, "failed", str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for name, outcome, err in pool.map(one, names):
            bar.update(1)
            if outcome == "downloaded":
                report.downloaded.append(name)
            elif outcome == "skipped":
                report.skipped.append(name)
            else:
                report.failed[name] = err
    bar.close()
    if report.failed:
        first = next(iter(report.failed.items()))
        raise InputError(f"{len(report.failed)} of {len(names)} task(s) failed, e.g. {first[0]}: {first[1]}; "
                         f"{len(report.downloaded) + len(report.skipped)} are cached; rerun to resume",
                         file=base_url)
    return report
