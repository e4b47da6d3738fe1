"""The original Self-Instruct repository's own prompt texts and seed tasks, for the `upstream`
profile.

The project does not ship the original prompt texts: the profile reads them from the user's copy
of the repository (`--upstream-dir`) or downloads the few files it needs from the repository at
the pinned commit into the download cache, each verified by its sha256. The templates are read
as data: the Python sources are parsed with `ast` and only string constants are taken; nothing
from them is ever executed.
"""
from __future__ import annotations

import ast
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from ..cache import cache_root, fetch_bytes
from ..errors import InputError
from ..jsonl import atomic_writer
from .profiles import Profile
from .prompt_texts import PromptTexts, project_texts

COMMIT = "0b26ccaa415992100fa32df62d41b994cf928e23"
BASE_URL = f"https://raw.githubusercontent.com/yizhongw/self-instruct/{COMMIT}/"
BASE_URL_ENV = "SELFINSTRUCT_UPSTREAM_BASE_URL"

# The files the profile reads, with the digests of their bytes at COMMIT.
FILES = {
    "self_instruct/bootstrap_instructions.py": "133e8a52b03dbccbcb956d0d4a843b8b02b9196d2e57ab01a192e36889b92637",
    "self_instruct/templates/clf_task_template.py": "9a6b3404ed4e61fb3d2b5b7e05233b29d76bad124206c3bd710b0fa9895b03fa",
    "self_instruct/templates/instance_gen_template.py": "f167d341189a734186abe0938f52a21cfd229e10c7dec8dcd479a9fe323c101f",
    "data/seed_tasks.jsonl": "7779004fa198fdf27cf70a159363879d8a26c53329e11b436af17b3941875f48",
}
SEED_FILE = "data/seed_tasks.jsonl"


def cached_copy() -> Path:
    return cache_root() / "upstream" / f"self-instruct-{COMMIT[:12]}"


def resolve(upstream_dir: str | Path | None) -> Path:
    """The user's copy, checked to hold every file; else the cached download (fetched now if
    missing)."""
    if upstream_dir is not None:
        root = Path(upstream_dir)
        for rel in FILES:
            if not (root / rel).is_file():
                raise InputError(f"not a copy of the Self-Instruct repository: {rel} is missing", file=root,
                                 field="--upstream-dir")
        return root
    root = cached_copy()
    base = os.environ.get(BASE_URL_ENV) or BASE_URL
    for rel, digest in FILES.items():
        path = root / rel
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            continue
        url = base.rstrip("/") + "/" + rel
        try:
            data = fetch_bytes(url, timeout=60, retries=2)
        except OSError as exc:
            raise InputError(f"cannot download the original scripts' files ({exc}); pass --upstream-dir with a "
                             f"copy of the repository, or set ${BASE_URL_ENV} to a mirror", file=url) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise InputError(f"downloaded file differs from the original at commit {COMMIT[:12]} (sha256 mismatch)",
                             file=url)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path, "wb", encoding=None) as fh:
            fh.write(data)
    return root


def _module(root: Path, rel: str) -> ast.Module:
    path = root / rel
    try:
        return ast.parse(path.read_text("utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise InputError(f"cannot parse ({exc.msg})", file=path, line=exc.lineno) from None


def _constant(root: Path, rel: str, name: str) -> str:
    """A module-level `name = '...'` string."""
    for node in _module(root, rel).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    raise InputError(f"no string constant {name!r}", file=root / rel)


def _bootstrap_headers(root: Path) -> tuple[str, str]:
    """The two headers in `encode_prompt`: `if classification: prompt = "..." else: prompt = "..."`."""
    rel = "self_instruct/bootstrap_instructions.py"
    for node in _module(root, rel).body:
        if isinstance(node, ast.FunctionDef) and node.name == "encode_prompt":
            branch = next((n for n in node.body if isinstance(n, ast.If)), None)
            if branch is not None:
                texts = [_assigned_string(branch.body), _assigned_string(branch.orelse)]
                if all(texts):
                    return texts[1], texts[0]
    raise InputError("no prompt headers in encode_prompt", file=root / rel)


def _assigned_string(body: list[ast.stmt]) -> str | None:
    for n in body:
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str):
            return n.value.value
    return None


def _one_line_end(text: str) -> str:
    """A header as our prompt builder joins it: without the newline that ends it."""
    return text[:-1] if text.endswith("\n") else text


@lru_cache(maxsize=8)
def read_texts(root: Path) -> PromptTexts:
    """The original texts. The classification question is the one word sequence the scripts
    write inline; it is the project's own question too."""
    header, header_clf = _bootstrap_headers(root)
    inst = "self_instruct/templates/instance_gen_template.py"
    return PromptTexts(
        header=_one_line_end(header), header_classification=_one_line_end(header_clf),
        classify_prefix=_constant(root, "self_instruct/templates/clf_task_template.py", "template_1"),
        classify_question=project_texts().classify_question,
        instances_output_first=_constant(root, inst, "output_first_template_for_clf"),
        instances_input_first=_constant(root, inst, "input_first_template_for_gen"))


UPSTREAM = "upstream"  # a spec's template naming the original repository's text
_PROJECT_FILES = ("bootstrap", "classify", "instances_output_first", "instances_input_first")
_SOURCE = {"header": 0, "header_classification": 0, "classify_prefix": 1, "classify_question": 1,
           "instances_output_first": 2, "instances_input_first": 3}  # field -> position in _PROJECT_FILES


def _template_names(profile: Profile) -> tuple[str, str, str, str]:
    """What each text comes from under the profile's specs, in `_PROJECT_FILES` order."""
    inst = profile.spec("instances").template
    kinds = inst if isinstance(inst, dict) else {"classification": inst, "generation": inst}
    return (profile.spec("bootstrap").template, profile.spec("classify").template,
            kinds["classification"], kinds["generation"])


def uses_copy(profile: Profile) -> bool:
    """Whether some step of the profile sends the original repository's texts."""
    return UPSTREAM in _template_names(profile)


def default_seed_file(profile: Profile, upstream_dir: str | Path | None) -> Path | None:
    """The copy's seed tasks where the profile prompts with the original texts, else None
    (the packaged seeds)."""
    return resolve(upstream_dir) / SEED_FILE if uses_copy(profile) else None


def texts_for(profile: Profile, upstream_dir: str | Path | None) -> PromptTexts:
    """The texts a profile's specs name: a prompt file of the project's, or "upstream" for the
    original repository's (read from the copy only when some step names it)."""
    names = _template_names(profile)
    own = project_texts(*(own_file if name == UPSTREAM else name for name, own_file in zip(names, _PROJECT_FILES)))
    if UPSTREAM not in names:
        return own
    up = read_texts(resolve(upstream_dir))
    return PromptTexts(**{field: getattr(up if names[i] == UPSTREAM else own, field) for field, i in _SOURCE.items()})
