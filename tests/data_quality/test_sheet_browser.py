"""The data-quality sheet in a real headless Chromium: three yes/no answers per item by mouse,
the page's progress, a reload, the export and its import into the summary."""
from __future__ import annotations

import json

import pytest

from selfinstruct.generation.cli import main
from user_oriented.test_sheet_browser import _wait


@pytest.mark.browser
def test_answer_export_import(tmp_path, browser, static_server, make_run):
    run, out = make_run(tmp_path / "run", n=3), tmp_path / "dq"
    assert main(["evaluate", "data-quality", str(run), "--out", str(out), "--sample", "3", "--sheet"]) == 0
    d = browser
    url = static_server(out) + "sheet.html"  # served, not file://: see the user-oriented sheet test
    d.get(url)
    d.execute_script("localStorage.clear()")
    d.get(url)
    by_id = d.find_element
    assert by_id("id", "instruction").text == "Task T0: do thing 0."
    assert not by_id("id", "answer-instruction-yes").get_attribute("class").count("selected")
    by_id("id", "rater-name").send_keys("bob")
    for key, value in (("instruction", "yes"), ("input", "no")):
        by_id("id", f"answer-{key}-{value}").click()
    assert d.find_element("tag name", "body").get_attribute("data-index") == "0"  # two of three: stays
    by_id("id", "answer-output-yes").click()
    _wait(d, lambda: d.find_element("tag name", "body").get_attribute("data-index") == "1")
    assert by_id("id", "progress-text").text == "1 / 3 rated"
    by_id("id", "answer-instruction-no").click()  # item 2: one answer only
    d.refresh()
    _wait(d, lambda: by_id("id", "progress-text").text == "1 / 3 rated")
    assert "selected" in by_id("id", "answer-instruction-no").get_attribute("class")
    exported = json.loads(d.execute_script("return window.selfinstructSheet.exportRatings();"))
    assert exported["format"] == "selfinstruct-data-quality-ratings" and exported["rater"] == "bob"
    got = {r["id"]: r["answers"] for r in exported["ratings"]}
    assert got == {"instruction_0": {"instruction": "yes", "input": "no", "output": "yes"},
                   "instruction_1": {"instruction": "no"}}
    path = tmp_path / "bob.json"
    path.write_text(json.dumps(exported))
    assert main(["evaluate", "data-quality", str(run), "--out", str(out), "--sample", "3",
                 "--import-ratings", str(path)]) == 0
    shares = json.loads((out / "summary.json").read_text())["shares"]["human:bob"]
    assert (shares["instruction"]["yes"], shares["instruction"]["n"]) == (1, 2)
    assert (shares["all"]["yes"], shares["all"]["n"]) == (0, 1)
