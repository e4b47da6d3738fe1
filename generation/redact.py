"""Credentials out of anything written: a URL's user:password part and key-like query values.

Users pass endpoints such as `http://user:KEY@host/v1` or `...?api_key=KEY`; the URL is worth
recording (which server made the data), its secret never is.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_QUERY = re.compile(r"key|token|secret|password|auth|sig", re.IGNORECASE)
REDACTED = "REDACTED"


def redact_url(url: str | None) -> str | None:
    """The URL with any userinfo removed and secret-looking query values replaced."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if _SECRET_QUERY.search(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")


def is_local_path(text: str) -> bool:
    """An absolute path on the machine that wrote it (POSIX, home-relative or Windows)."""
    return text.startswith(("/", "~")) or bool(_WINDOWS_ABS.match(text)) or text.startswith("\\\\")


def strip_local_paths(obj):
    """A copy where every absolute path is cut to its last part: a file is named by its name
    (its sha256 sits beside it), and the writer's directory layout stays on the writer's machine."""
    if isinstance(obj, dict):
        return {k: strip_local_paths(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strip_local_paths(v) for v in obj]
    if isinstance(obj, str) and is_local_path(obj) and "\n" not in obj:
        return re.split(r"[\\/]", obj.rstrip("/\\"))[-1] or obj
    return obj
