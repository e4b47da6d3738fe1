"""Publish a built dataset folder to the Hugging Face Hub as one commit plus a release tag.

Order matters for "nothing half-published": everything that can be refused is checked before
the first write (folder layout, repo id, tag format, token, tag not taken); all files and the
removal of stale files go up in a single commit, which the Hub applies atomically; the tag is
created only after that commit succeeded, and points at that commit's id, so the release is
exactly what was uploaded even if the branch moves on. The token comes from the standard
login or HF_TOKEN and is never printed: error texts are scrubbed of it before they are shown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.redact import redact_url

from .card import parse_front_matter

TAG_PATTERN = re.compile(r"^v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-]+)?$")
REPO_TYPE = "dataset"


class PublishError(Exception):
    """The Hub refused or failed an upload; nothing was tagged."""


@dataclass
class PublishResult:
    repo_url: str
    commit_oid: str
    tag: str
    files: int
    deleted: int
    pr_url: str | None = None


def folder_files(folder: Path) -> list[str]:
    """Repo-relative paths to upload: everything except hidden files and folders."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(rel.as_posix())
    return out


def check_folder(folder: Path) -> list[str]:
    """Refuse a folder that would publish a broken dataset; returns the files to upload."""
    if not folder.is_dir():
        raise InputError("folder not found", file=folder)
    readme = folder / "README.md"
    if not readme.is_file():
        raise InputError("no README.md: build the folder with `selfinstruct dataset build` first", file=readme)
    meta = parse_front_matter(readme.read_text(encoding="utf-8"))
    configs = meta.get("configs")
    if not isinstance(configs, list) or not configs:
        raise InputError("the card's YAML front matter has no `configs`", file=readme, field="configs")
    for entry in configs:
        for item in entry.get("data_files") or []:
            paths = item.get("path")
            for rel in [paths] if isinstance(paths, str) else paths or []:
                if not any(ch in rel for ch in "*?[") and not (folder / rel).is_file():
                    raise InputError(f"config {entry.get('config_name')!r} names a missing data file: {rel}",
                                     file=readme, field="configs")
    return folder_files(folder)


def check_repo_id(repo_id: str) -> None:
    """The Hub's naming rules, checked here so that `build` (which writes the id into the card)
    and `publish` refuse the same ids before any work, without a round trip."""
    if repo_id.count("/") != 1:
        raise InputError(f"expected ORG/NAME, got {repo_id!r}", field="--repo-id")
    for part in repo_id.split("/"):
        why = _repo_part_problem(part)
        if why:
            raise InputError(f"invalid repository id {repo_id!r}: {why}", field="--repo-id")


_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
MAX_REPO_PART = 96


def _repo_part_problem(part: str) -> str | None:
    if not part:
        return "empty namespace or name"
    if len(part) > MAX_REPO_PART:
        return f"{part[:20]}... is longer than {MAX_REPO_PART} characters"
    if not _REPO_PART.match(part):
        return (f"{part!r} may hold only letters, digits, '-', '_' and '.', and must start and end with a "
                "letter or digit")
    if "--" in part or ".." in part:
        return f"{part!r} contains '--' or '..'"
    if part.endswith(".git"):
        return f"{part!r} ends with .git"
    return None


def check_tag(tag: str) -> None:
    if not TAG_PATTERN.match(tag):
        raise InputError(f"expected a release tag like v1.0.0, got {tag!r}", field="--tag")


def resolve_token(token: str | None = None) -> str:
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise InputError("no Hugging Face token: run `hf auth login` or set HF_TOKEN", field="token")
    return token


def _scrubbed(exc: BaseException, token: str) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text.replace(token, "[redacted]")


def _is_transport_error(exc: BaseException) -> bool:
    """No answer at all (refused, reset, timed out, name not resolved): the HTTP client's own
    error types differ between huggingface_hub releases, so they are recognised by family."""
    if getattr(exc, "response", None) is not None:  # an answer, even if an error status
        return False
    names = {c.__name__ for c in type(exc).__mro__}
    return isinstance(exc, OSError) or bool(names & {"TransportError", "ConnectionError", "RequestException"})


def _user_fault(exc: BaseException, token: str, endpoint: str) -> InputError | None:
    """A failure the user fixes (the token, the endpoint), as the one line that says so."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return InputError(f"the Hub refused the token (HTTP {status}: {_scrubbed(exc, token)}); set HF_TOKEN to "
                          "a token with write access or run `hf auth login`", field="token")
    if _is_transport_error(exc):
        return InputError(f"cannot reach the Hub at {redact_url(endpoint)} ({_scrubbed(exc, token)}); check "
                          "--endpoint / HF_ENDPOINT and the network", field="--endpoint")
    return None


def _failure(exc: BaseException, token: str, endpoint: str, what: str) -> Exception | None:
    """The one-line error for a failed Hub call; None for a bug, which keeps its traceback."""
    from huggingface_hub.errors import HfHubHTTPError

    fault = _user_fault(exc, token, endpoint)
    if fault is not None:
        return fault
    if isinstance(exc, (HfHubHTTPError, ValueError)):
        return PublishError(f"{what}: {_scrubbed(exc, token)}")
    return None


def _check_token(api, token: str) -> None:
    """Ask the Hub who the token belongs to before anything else, so a refused token or an
    unreachable endpoint is reported as such rather than as a failed step further on."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.whoami(token=token)
    except Exception as exc:
        fault = _user_fault(exc, token, api.endpoint)
        if fault is not None:
            raise fault from None
        if not isinstance(exc, HfHubHTTPError):
            raise


def publish_folder(folder: str | Path, repo_id: str, *, tag: str, private: bool = False,
                   revision: str | None = None, create_pr: bool = False, commit_message: str | None = None,
                   endpoint: str | None = None, token: str | None = None, log=lambda msg: None) -> PublishResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    check_repo_id(repo_id)
    check_tag(tag)
    files = check_folder(folder)
    token = resolve_token(token)
    api = HfApi(endpoint=endpoint, token=token)
    _check_token(api, token)
    branch = revision or "main"

    try:
        repo_url = str(api.create_repo(repo_id, repo_type=REPO_TYPE, private=True if private else None,
                                       exist_ok=True))
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        if any(t.name == tag for t in refs.tags):
            raise InputError(f"tag {tag} already exists in {repo_id}; releases are immutable, pick a new version",
                             field="--tag")
        if branch not in {b.name for b in refs.branches}:
            log(f"creating branch {branch}")
            api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE)
        remote = api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=branch)
    except Exception as exc:
        failure = _failure(exc, token, api.endpoint, "the Hub refused the request")
        if failure is None:
            raise
        raise failure from None

    local = set(files)
    stale = [p for p in remote if p not in local and p != ".gitattributes"]
    operations = [CommitOperationDelete(path_in_repo=p) for p in stale]
    operations += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(folder / rel)) for rel in files]
    log(f"uploading {len(files)} files to {repo_id}@{branch}" + (f", removing {len(stale)} stale" if stale else ""))
    try:
        info = api.create_commit(repo_id, operations, repo_type=REPO_TYPE, revision=branch, create_pr=create_pr,
                                 commit_message=commit_message or f"Release {tag}")
    except Exception as exc:
        failure = _failure(exc, token, api.endpoint, "upload failed, nothing was tagged")
        if failure is None:
            raise
        raise failure from None
    try:
        api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type=REPO_TYPE, tag_message=f"Release {tag}")
    except HfHubHTTPError as exc:
        raise PublishError(f"commit {info.oid} uploaded but tagging {tag} failed: {_scrubbed(exc, token)}; "
                           f"rerun with a new tag or tag that commit by hand") from None
    return PublishResult(repo_url=repo_url, commit_oid=info.oid, tag=tag, files=len(files), deleted=len(stale),
                         pr_url=info.pr_url)
