"""Fixtures for the user-oriented evaluation tests: the 252 tasks, small predictions files and a
headless Chromium for the rating sheet."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.evaluation.user_oriented.tasks import load_tasks_file

CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def uo_tasks(user_oriented_file):
    return load_tasks_file(user_oriented_file)


@pytest.fixture
def make_predictions(tmp_path, uo_tasks):
    """Write a predictions file in our format: `make_predictions(model, n, response=fn)`."""

    def make(model: str, n: int = 3, response=None, name: str | None = None) -> Path:
        from selfinstruct.evaluation.user_oriented.predictions import Prediction
        from selfinstruct.evaluation.user_oriented.prompts import build_prompt

        path = tmp_path / (name or f"{model}_predictions.jsonl")
        with path.open("w", encoding="utf-8") as fh:
            for i, t in enumerate(uo_tasks[:n]):
                text = response(i, t) if response else f"{model} answer {i}: " + "word " * (i + 1)
                rec = Prediction(t.id, model, build_prompt(t.instruction, t.input), t.instruction, t.input, text,
                                 t.output).to_json()
                fh.write(json.dumps(rec) + "\n")
        return path

    return make


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMEDRIVER.exists():
        pytest.skip("needs /usr/bin/chromedriver (Debian chromium-driver; `make browser-deps` installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chrome-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads_dir = downloads
    yield driver
    driver.quit()
