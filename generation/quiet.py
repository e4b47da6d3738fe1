"""Third-party noise off for a normal run: deprecation and advisory warnings from torch,
transformers, datasets, TRL and PEFT, and their loading bars, which a user of the command can do
nothing about. `selfinstruct --verbose` keeps all of them.

Set before those libraries are imported (the command imports them lazily), through the switches
they read at import time, so nothing heavy is imported here.
"""
from __future__ import annotations

import logging
import os
import warnings

_LIBRARIES = r"(torch|transformers|datasets|huggingface_hub|trl|peft|accelerate|tokenizers)(\.|$)"


def quiet() -> None:
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=_LIBRARIES)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("transformers", "datasets", "huggingface_hub", "accelerate", "peft", "trl"):
        logging.getLogger(name).setLevel(logging.ERROR)
