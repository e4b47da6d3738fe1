"""Reading the YAML files that hold steps, profiles and judges, and laying one over another.

Steps, profiles and judges are data so that a new one is a new file; they share one reader so a
bad file gets the same one-line error wherever it is read, and one overlay rule so "a profile
overlays a step" and "a judge builds on another" mean the same thing.
"""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError


def read_yaml_text(text: str, source: str | Path) -> dict[str, Any]:
    """A mapping, or an InputError naming the file and the line YAML stopped at."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', None) or exc})", file=source, line=line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("must be a mapping of settings", file=source)
    return data


def read_packaged_yaml(package: str, *parts: str) -> dict[str, Any]:
    """A YAML file shipped inside `package` (FileNotFoundError when there is none)."""
    text = resources.files(package).joinpath(*parts).read_text("utf-8")
    return read_yaml_text(text, "/".join(parts))


def read_yaml_file(path: str | Path, *, field: str | None = None) -> dict[str, Any]:
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", file=path, field=field) from None
    return read_yaml_text(text, path)


def overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def packaged_names(package: str, folder: str) -> list[str]:
    """The YAML specs shipped in `package`/`folder`, by name (file name without `.yaml`)."""
    found = resources.files(package).joinpath(folder)
    return sorted(p.name[:-5] for p in found.iterdir() if p.name.endswith(".yaml"))


def read_layered_spec(name_or_path: str, package: str, folder: str, *, what: str, flag: str,
                      seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    """A packaged spec by name or a user's YAML file, with `base: NAME` chains laid under it.

    Returns (settings, source); `what` names the kind in errors ("judge"), `flag` the option
    that chose it. Judges of every evaluation read their files through here, so `base:` means
    the same everywhere and a loop or an unknown name gets the same one-line error.
    """
    if name_or_path in seen:
        raise InputError(f"{what} specs build on each other in a loop ({' -> '.join([*seen, name_or_path])})",
                         file=seen[-1], field="base")
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        data, source = read_yaml_file(name_or_path, field=flag), str(name_or_path)
    else:
        try:
            data, source = read_packaged_yaml(package, folder, f"{name_or_path}.yaml"), f"{folder}/{name_or_path}.yaml"
        except FileNotFoundError:
            raise InputError(f"unknown {what} {name_or_path!r} (packaged: {', '.join(packaged_names(package, folder))}; "
                             "or give a YAML file)", field=flag) from None
    base = data.pop("base", None)
    if base is None:
        return data, source
    parent, _ = read_layered_spec(str(base), package, folder, what=what, flag=flag, seen=(*seen, source))
    return overlay(parent, data), source
