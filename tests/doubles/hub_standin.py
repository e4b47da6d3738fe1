"""A local stand-in for the Hugging Face Hub's HTTP API, for testing `publish` offline.

It is a real HTTP server on 127.0.0.1 answering the requests `huggingface_hub` 2.x sends for
`whoami`, `create_repo`, `list_repo_refs`, `create_branch`, `list_repo_files`, `create_commit` (the
`preupload` call, answered "regular" so file bodies arrive inline as base64 and no LFS or Xet
transfer is needed, then the NDJSON `commit` call), `create_tag`, `dataset_info`, and file
downloads (`resolve`). It keeps every repository in memory as commits of whole file trees and
records what it received, so tests can check what was published and which credentials arrived.

`fail_commits=N` makes the next N commit calls fail with HTTP 500, to test that a failed upload
leaves no tag behind. Not a full Hub: no LFS, no Xet, no pagination, no permissions beyond one
accepted token.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        if rev in self.branches:
            return self.commits[self.branches[rev]]
        if rev in self.tags:
            return self.commits[self.tags[rev]]
        if rev.startswith("refs/pr/") and rev[len("refs/pr/"):].isdigit():
            oid = self.prs.get(int(rev[len("refs/pr/"):]))
            return self.commits.get(oid) if oid else None
        return self.commits.get(rev)


def _oid(parent: str | None, message: str, files: dict[str, bytes]) -> str:
    h = hashlib.sha1((parent or "").encode() + message.encode())
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
    return h.hexdigest()


@dataclass
class Received:
    method: str
    path: str
    authorization: str | None
    body: bytes


class HubStandIn:
    """Use as a context manager; `.endpoint` is the base URL to give `HfApi(endpoint=...)` or
    `HF_ENDPOINT`. `token` is the only bearer token accepted for writes (None: accept any)."""

    def __init__(self, *, token: str | None = None, fail_commits: int = 0) -> None:
        self.token = token
        self.fail_commits = fail_commits
        self.repos: dict[tuple[str, str], Repo] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "HubStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -------------------------------------------------------------- inspection helpers

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        commit = self.repo(repo_id, repo_type).resolve(revision)
        if commit is None:
            raise KeyError(revision)
        return dict(commit.files)

    def export(self, repo_id: str, revision: str, folder: str | Path, repo_type: str = "dataset") -> Path:
        """Write a revision's files to `folder` (to load it with `load_dataset(folder, ...)`)."""
        folder = Path(folder)
        for rel, data in self.files(repo_id, revision, repo_type).items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return folder

    # -------------------------------------------------------------- HTTP

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, payload=None, *, raw: bytes | None = None, headers=None) -> None:
                data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _dispatch(self) -> None:
                body = self._body()
                auth = self.headers.get("Authorization")
                with hub._lock:
                    hub.received.append(Received(self.command, self.path, auth, body))
                try:
                    status, payload, raw, headers = hub._route(self.command, self.path, auth, body)
                except Exception as exc:  # a bug in the stand-in must not hang the client
                    status, payload, raw, headers = 500, {"error": f"stand-in error: {exc!r}"}, None, None
                if status >= 400 and isinstance(payload, dict):
                    headers = {"X-Error-Message": payload.get("error", ""), **(headers or {})}
                self._send(status, payload, raw=raw, headers=headers)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

        return Handler

    def _authorized(self, auth: str | None) -> bool:
        if self.token is None:
            return auth is not None
        return auth == f"Bearer {self.token}"

    def _route(self, method: str, raw_path: str, auth: str | None, body: bytes):
        url = urlsplit(raw_path)
        query = parse_qs(url.query)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml(body)
        if parts[:2] == ["api", "whoami-v2"]:
            if not self._authorized(auth):
                return 401, {"error": "Invalid credentials in Authorization header"}, None, None
            return 200, {"type": "user", "name": "stand-in", "auth": {"type": "access_token"}}, None, None
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo(auth, json.loads(body or b"{}"))
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("datasets", "models", "spaces"):
            repo_type, repo_id, rest = parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4:]
            return self._repo_api(method, repo_type, repo_id, rest, query, auth, body)
        if len(parts) >= 5 and parts[0] in ("datasets", "spaces") and parts[3] == "resolve":
            return self._resolve(parts[0][:-1], f"{parts[1]}/{parts[2]}", parts[4], "/".join(parts[5:]))
        return 404, {"error": f"stand-in does not serve {method} {url.path}"}, None, None

    # -------------------------------------------------------------- endpoints

    def _validate_yaml(self, body: bytes):
        import yaml

        content = json.loads(body or b"{}").get("content", "")
        if content.startswith("---"):
            end = content.find("\n---", 3)
            try:
                yaml.safe_load(content[3:end] if end > 0 else "")
            except yaml.YAMLError as exc:
                return 400, {"errors": [{"message": f"invalid YAML: {exc}"}], "error": "invalid YAML"}, None, None
        return 200, {"errors": [], "warnings": []}, None, None

    def _create_repo(self, auth, payload):
        if not self._authorized(auth):
            return 401, {"error": "Invalid credentials in Authorization header"}, None, None
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization')}/{payload['name']}"
        url = f"{self.endpoint}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
        with self._lock:
            if (repo_type, repo_id) in self.repos:
                return 409, {"error": "You already created this repo", "url": url}, None, None
            repo = Repo(repo_type, repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
            files = {".gitattributes": GITATTRIBUTES}
            first = Commit(_oid(None, "initial commit", files), None, "initial commit", files)
            repo.commits[first.oid] = first
            repo.branches["main"] = first.oid
            self.repos[(repo_type, repo_id)] = repo
        return 200, {"url": url, "name": repo_id}, None, None

    def _repo_api(self, method, repo_type, repo_id, rest, query, auth, body):
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            return 404, {"error": "Repository not found"}, None, {"X-Error-Code": "RepoNotFound"}
        if repo.private and not self._authorized(auth):
            return 404, {"error": "Repository not found"}, None, {"X-Error-Code": "RepoNotFound"}
        write = method in ("POST", "PUT", "DELETE")
        if write and not self._authorized(auth):
            return 401, {"error": "Invalid credentials in Authorization header"}, None, None
        head = rest[0] if rest else ""
        if head == "" or head == "revision":
            rev = rest[1] if head == "revision" and len(rest) > 1 else "main"
            return self._info(repo, rev)
        if head == "refs" and method == "GET":
            return 200, self._refs(repo, "include_prs" in query), None, None
        if head == "branch" and method == "POST":
            return self._create_branch(repo, rest[1], json.loads(body or b"{}"))
        if head == "tree" and method == "GET":
            return self._tree(repo, rest[1], "/".join(rest[2:]))
        if head == "preupload" and method == "POST":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                                   for f in files]}, None, None
        if head == "commit" and method == "POST":
            return self._commit(repo, rest[1], "create_pr" in query, body)
        if head == "tag" and method == "POST":
            return self._tag(repo, rest[1], json.loads(body))
        return 404, {"error": f"stand-in does not serve {method} /{'/'.join(rest)}"}, None, None

    def _info(self, repo: Repo, rev: str):
        commit = repo.resolve(rev)
        if commit is None:
            return 404, {"error": f"Invalid rev id: {rev}"}, None, {"X-Error-Code": "RevisionNotFound"}
        return 200, {
            "id": repo.repo_id, "_id": repo.repo_id, "sha": commit.oid, "private": repo.private,
            "siblings": [{"rfilename": p} for p in sorted(commit.files)], "tags": [], "downloads": 0, "likes": 0,
        }, None, None

    def _refs(self, repo: Repo, include_prs: bool) -> dict:
        def ref(kind, name, oid):
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        out = {"branches": [ref("heads", n, o) for n, o in repo.branches.items()],
               "converts": [], "tags": [ref("tags", n, o) for n, o in repo.tags.items()]}
        if include_prs:
            out["pullRequests"] = [{"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": o}
                                   for n, o in repo.prs.items()]
        return out

    def _create_branch(self, repo: Repo, branch: str, payload: dict):
        with self._lock:
            if branch in repo.branches:
                return 409, {"error": f"Branch {branch} already exists"}, None, None
            start = repo.resolve(payload.get("startingPoint") or "main")
            if start is None:
                return 404, {"error": "Invalid starting point"}, None, None
            repo.branches[branch] = start.oid
        return 200, {}, None, None

    def _tree(self, repo: Repo, rev: str, prefix: str):
        commit = repo.resolve(rev)
        if commit is None:
            return 404, {"error": f"Invalid rev id: {rev}"}, None, {"X-Error-Code": "RevisionNotFound"}
        prefix = prefix.strip("/")
        entries = [{"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": path}
                   for path, data in sorted(commit.files.items())
                   if not prefix or path.startswith(prefix + "/")]
        return 200, entries, None, None

    def _commit(self, repo: Repo, rev: str, create_pr: bool, body: bytes):
        with self._lock:
            if self.fail_commits > 0:
                self.fail_commits -= 1
                return 500, {"error": "stand-in: commit refused (simulated outage)"}, None, None
            base = repo.resolve(rev)
            if base is None:
                return 404, {"error": f"Invalid rev id: {rev}"}, None, {"X-Error-Code": "RevisionNotFound"}
            files = dict(base.files)
            message = ""
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    message = value.get("summary", "")
                elif key == "file":
                    if value.get("encoding") != "base64":
                        return 400, {"error": "stand-in accepts base64 file content only"}, None, None
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    files = {p: d for p, d in files.items() if not p.startswith(folder)}
                else:
                    return 400, {"error": f"stand-in does not support {key} operations (LFS)"}, None, None
            commit = Commit(_oid(base.oid, message, files), base.oid, message, files)
            repo.commits[commit.oid] = commit
            prefix = f"{self.endpoint}/{repo.repo_type}s/{repo.repo_id}"
            pr_url = None
            if create_pr:
                number = max(repo.prs, default=0) + 1
                repo.prs[number] = commit.oid
                pr_url = f"{prefix}/discussions/{number}"
            else:
                branch = rev if rev in repo.branches else None
                if branch is None:
                    return 400, {"error": "can only commit on a branch"}, None, None
                repo.branches[branch] = commit.oid
        return 200, {"commitUrl": f"{prefix}/commit/{commit.oid}", "commitOid": commit.oid,
                     "pullRequestUrl": pr_url, "success": True}, None, None

    def _tag(self, repo: Repo, rev: str, payload: dict):
        with self._lock:
            tag = payload["tag"]
            if tag in repo.tags:
                return 409, {"error": f"Tag {tag} already exists"}, None, None
            commit = repo.resolve(rev)
            if commit is None:
                return 404, {"error": f"Invalid rev id: {rev}"}, None, {"X-Error-Code": "RevisionNotFound"}
            repo.tags[tag] = commit.oid
        return 200, {}, None, None

    def _resolve(self, repo_type: str, repo_id: str, rev: str, path: str):
        repo = self.repos.get((repo_type, repo_id))
        commit = repo.resolve(rev) if repo else None
        if commit is None or path not in commit.files:
            return 404, {"error": "Entry not found"}, None, {"X-Error-Code": "EntryNotFound"}
        data = commit.files[path]
        return 200, None, data, {"X-Repo-Commit": commit.oid, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}

