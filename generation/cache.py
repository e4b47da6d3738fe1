"""Where downloaded and converted files live, and how they are fetched.

One rule for the whole project (`$SELFINSTRUCT_CACHE`, else `$XDG_CACHE_HOME/selfinstruct`, else
`~/.cache/selfinstruct`), so a user who moves the cache moves all of it: the converted embedded
model, the SuperNI tasks and the user-oriented set. Callers verify what they fetch before they
write it (atomically) into their subfolder.
"""
from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

CACHE_ENV = "SELFINSTRUCT_CACHE"


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selfinstruct"


def fetch_bytes(url: str, *, timeout: float, retries: int = 0) -> bytes:
    """GET `url`; transient failures (connection errors, short reads, 429, 5xx) are retried with
    a short backoff. Raises OSError with a one-line reason."""
    last = ""
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - user-chosen http(s) URL
                return resp.read()
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, HTTPException, OSError) as exc:
            last = f"{exc.__class__.__name__}: {exc}"
        if attempt < retries:
            time.sleep(min(0.2 * 2 ** attempt, 2.0))
    raise OSError(last or "download failed")
