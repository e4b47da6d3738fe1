"""The wheel a user installs: everything under `selfinstruct.*`, with its data files.

Data files (seeds, prompt demonstrations, the rating sheet, the price table, the metric
module) are read through importlib.resources at run time; a file missing from the wheel works in
an editable checkout and breaks for every user, so the built wheel itself is inspected.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _build_wheel(tmp_path: Path) -> zipfile.ZipFile:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO), "-w", str(tmp_path)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = tmp_path.glob("selfinstruct-*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_installs_only_under_selfinstruct_and_ships_data(tmp_path):
    names = _build_wheel(tmp_path).namelist()
    top_level = {n.split("/")[0] for n in names if not n.startswith("selfinstruct-")}
    assert top_level == {"selfinstruct", "selfinstruct_dataset.py"}, top_level
    assert not any(n.startswith(("generation/", "evaluation/", "seeds/", "tests/")) for n in names)

    def under(folder: str) -> list[str]:
        return [n for n in names if n.startswith(f"selfinstruct/{folder}/")]

    assert "selfinstruct/seeds/seed_tasks.jsonl" in names
    for folder, suffixes in {
        "generation/pipeline": (".json", ".txt"),
        "generation/lm": (".json",),
        "evaluation/user_oriented": (".html", ".js", ".css"),
        "evaluation/superni": (".json",),
    }.items():
        data = [n for n in under(folder) if n.endswith(suffixes)]
        assert data, f"no data files shipped under {folder}"
    source_data = {
        str(p.relative_to(REPO)) for root in ("generation", "evaluation", "seeds")
        for p in (REPO / root).rglob("*")
        if p.is_file() and p.suffix in {".json", ".jsonl", ".yaml", ".txt", ".html", ".js", ".css", ".md"}
        and "__pycache__" not in p.parts
    }
    shipped = {n.removeprefix("selfinstruct/") for n in names}
    missing = sorted(s for s in source_data if s not in shipped)
    assert not missing, f"data files left out of the wheel: {missing}"
    # test doubles (scripted server, synthetic responder, Hub stand-in) stay with the tests
    doubles = [n for n in names if any(word in n for word in ("localserver", "synthetic", "standin", "doubles"))]
    assert not doubles, doubles


def test_console_command_is_declared(tmp_path):
    wheel = _build_wheel(tmp_path)
    (entry,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    text = wheel.read(entry).decode()
    assert "selfinstruct = selfinstruct.generation.cli:main" in text
