"""The SuperNI metric as an `evaluate` module: `evaluate.load(str(module_path()))`."""
from pathlib import Path


def module_path() -> Path:
    """Path of the module script, for `evaluate.load` (the folder path works too)."""
    return Path(__file__).with_name("superni_metric.py")
