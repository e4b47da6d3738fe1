"""Generated instruction data (Self-Instruct, Unnatural Instructions and Evol-Instruct runs) as a
Hugging Face `datasets` builder.

`datasets` 4+ no longer runs loading scripts, so this builder is imported and used directly;
what goes to the Hub is Parquet plus a README with YAML configs (`selfinstruct dataset build`).
One line for users::

    import selfinstruct_dataset
    dd = selfinstruct_dataset.load("instances", data_dir="runs/my-run")          # a DatasetDict
    dd = selfinstruct_dataset.load("instances", data_dir="runs/my-run", validation_size=0.05)
    pp = selfinstruct_dataset.load("paraphrases", data_dir="runs/my-unnatural-run")
    he = selfinstruct_dataset.load("upstream_human_eval")                      # the paper's 252 tasks

Configs and their schemas live in `selfinstruct.generation.publish.schema`; the run-directory
readers in `selfinstruct.generation.publish.records`; the split rule in `...publish.splits`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import datasets

from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import iter_jsonl
from selfinstruct.generation.publish import records, splits
from selfinstruct.generation.publish.methods import SELF_INSTRUCT, Method, method_of
from selfinstruct.generation.publish.schema import CONFIGS, UPSTREAM_BASE_URL, UPSTREAM_BASE_URL_ENV, features
from selfinstruct.generation.rundir import RunPaths, read_manifest

_HOMEPAGE = "https://github.com/yizhongw/self-instruct"
_LICENSE = "apache-2.0"


@dataclass
class SelfInstructConfig(datasets.BuilderConfig):
    """One config of `SelfInstruct`.

    `validation_size` (a fraction in [0, 1)) moves that share of *instructions*, chosen by hash,
    to a validation split. `base_url` overrides where the upstream files are fetched from
    (also `$SELFINSTRUCT_UPSTREAM_BASE_URL`). `source_fingerprint` is filled in from the input
    files' sizes and mtimes so a grown run is never answered from a stale cache.
    """

    validation_size: float = 0.0
    base_url: str | None = None
    source_fingerprint: str | None = None


def _config(name: str) -> SelfInstructConfig:
    spec = CONFIGS[name]
    return SelfInstructConfig(name=name, version=datasets.Version(spec.version), description=spec.description)


def _source_fingerprint(name: str, data_dir: str | None) -> str | None:
    """Sizes and mtimes of the files a config reads; None for downloads (cached by URL)."""
    if CONFIGS[name].source == "upstream":
        return None
    if data_dir is None:
        if name != "seed_tasks":
            return None
        from selfinstruct.generation.seeds import default_seed_path

        path = default_seed_path()
    else:
        path = Path(data_dir)
    files = records.source_files(path) if path.is_dir() else [path] if path.is_file() else []
    return records.fingerprint(files)


class SelfInstruct(datasets.GeneratorBasedBuilder):
    """Generated Self-Instruct data from a run directory, the seed tasks, and the paper's release."""

    BUILDER_CONFIG_CLASS = SelfInstructConfig
    BUILDER_CONFIGS = [_config(name) for name in CONFIGS]
    DEFAULT_CONFIG_NAME = "instances"

    def __init__(self, *args, **kwargs):
        name = kwargs.get("config_name") or self.DEFAULT_CONFIG_NAME
        if name in CONFIGS and kwargs.get("source_fingerprint") is None:
            kwargs["source_fingerprint"] = _source_fingerprint(name, kwargs.get("data_dir"))
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.config.description,
            features=features(self.config.name),
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=self._method().citation,
        )

    def _method(self) -> Method:
        """The method that made a run config's data, so `info.citation` credits its paper; the
        seed and upstream configs are Self-Instruct's."""
        if CONFIGS[self.config.name].source != "run" or not self.config.data_dir:
            return SELF_INSTRUCT
        path = RunPaths(Path(self.config.data_dir)).manifest
        return method_of(read_manifest(path), path) if path.is_file() else SELF_INSTRUCT

    # ------------------------------------------------------------------ splits

    def _split_generators(self, dl_manager):
        spec = CONFIGS[self.config.name]
        fraction = float(self.config.validation_size or 0.0)
        if not 0.0 <= fraction < 1.0:
            raise InputError(f"must be a fraction in [0, 1), got {fraction}", field="validation_size")
        if fraction and not spec.splittable:
            raise InputError(f"config {spec.name!r} has fixed splits; validation_size applies only to "
                             + ", ".join(c.name for c in CONFIGS.values() if c.splittable), field="validation_size")
        if spec.source == "upstream":
            base = (self.config.base_url or os.environ.get(UPSTREAM_BASE_URL_ENV) or UPSTREAM_BASE_URL)
            base = base.rstrip("/") + "/"
            urls = {split: base + rel for split, rel in spec.upstream_files.items()}
            try:
                paths = dl_manager.download(urls)
            except (FileNotFoundError, ConnectionError) as exc:
                raise FileNotFoundError(f"could not download the upstream file {exc}; point base_url= or "
                                        f"${UPSTREAM_BASE_URL_ENV} at a mirror of the repository's files") from exc
            return [datasets.SplitGenerator(name=split, gen_kwargs={"path": paths[split], "split": None})
                    for split in spec.upstream_files]
        if spec.source == "seeds":
            source = self._seed_file()
        else:
            source = self._run_dir()
            records.check_inputs(spec.name, source)
        splits = ["train", "validation"] if fraction else ["train"]
        return [datasets.SplitGenerator(name=s, gen_kwargs={"path": str(source), "split": s if fraction else None})
                for s in splits]

    def _run_dir(self) -> Path:
        if not self.config.data_dir:
            raise InputError(f"config {self.config.name!r} reads a run directory: pass data_dir=RUN_DIR",
                             field="data_dir")
        path = Path(self.config.data_dir)
        if not path.is_dir():
            raise InputError("run directory not found", file=path)
        return path

    def _seed_file(self) -> Path:
        """data_dir may be a seed file, a folder holding seed_tasks.jsonl, or absent (packaged seeds)."""
        if not self.config.data_dir:
            from selfinstruct.generation.seeds import default_seed_path

            return default_seed_path()
        path = Path(self.config.data_dir)
        return path / "seed_tasks.jsonl" if path.is_dir() else path

    # ------------------------------------------------------------------ rows

    def _generate_examples(self, path: str, split: str | None):
        spec = CONFIGS[self.config.name]
        if spec.source == "upstream":
            yield from enumerate(_upstream_rows(spec.name, Path(path)))
            return
        if spec.source == "seeds":
            rows = records.read_seed_tasks(Path(path))
        else:
            rows = records.RUN_READERS[spec.name](Path(path))
        matcher, groups = None, None
        if split is not None and spec.name in ("finetuning", "messages"):
            matcher = splits.InstructionMatcher(records.known_instructions(Path(path)))
        if split is not None and spec.source == "run":
            groups = records.split_groups(Path(path))
        for key, row in enumerate(rows):
            if split is not None:
                text = splits.split_key(spec.name, row, matcher, groups)
                if splits.split_of(text, self.config.validation_size) != split:
                    continue
            yield key, row


def _upstream_rows(name: str, path: Path):
    if name == "upstream_human_eval":
        for line, obj in iter_jsonl(path):
            try:
                yield {
                    "id": obj["id"], "motivation_app": obj["motivation_app"], "instruction": obj["instruction"],
                    "instances": [{"input": i["input"], "output": i["output"]} for i in obj["instances"]],
                }
            except (KeyError, TypeError) as exc:
                raise InputError(f"unexpected record layout ({exc})", file=path, line=line) from None
    else:
        yield from records.read_prompt_completion(path)


def load(config: str = "instances", data_dir: str | os.PathLike | None = None, *, cache_dir: str | None = None,
         **config_kwargs) -> datasets.DatasetDict:
    """Build (or reuse from cache) one config and return all its splits as a `DatasetDict`."""
    if config not in CONFIGS:
        raise InputError(f"unknown config {config!r}; choose one of: {', '.join(CONFIGS)}", field="config")
    builder = SelfInstruct(config_name=config, data_dir=None if data_dir is None else str(data_dir),
                           cache_dir=cache_dir, **config_kwargs)
    prepare(builder)
    return as_dataset_dict(builder)


def as_dataset_dict(builder: SelfInstruct) -> datasets.DatasetDict:
    """All splits; a split that came out empty (a tiny run, a small validation share) is an
    empty table with the config's features instead of `datasets`' "corresponds to no data"."""
    out = {}
    for name, info in builder.info.splits.items():
        if info.num_examples:
            out[name] = builder.as_dataset(split=name)
        else:
            feats = builder.info.features
            out[name] = datasets.Dataset.from_dict({k: [] for k in feats}, features=feats)
    return datasets.DatasetDict(out)


def prepare(builder: SelfInstruct, **kwargs) -> None:
    """`download_and_prepare`, with a bad input line reported as the `InputError` it is rather
    than wrapped in `datasets`' generic generation error."""
    try:
        builder.download_and_prepare(**kwargs)
    except datasets.exceptions.DatasetGenerationError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, InputError):
            raise cause from None
        raise


__all__ = ["SelfInstruct", "SelfInstructConfig", "load", "prepare", "as_dataset_dict", "CONFIGS"]
