"""Ratings files, merging sheet exports, and the report (numbers, summary.json, figure)."""
from __future__ import annotations

import json

import pytest

from selfinstruct.evaluation.user_oriented.ratings import load_ratings
from selfinstruct.generation.cli import main
from selfinstruct.generation.errors import InputError
from selfinstruct.generation.jsonl import read_jsonl

UO = ["evaluate", "user-oriented"]


def _rating(i, model, rater, grade):
    return {"id": f"user_oriented_task_{i}", "model": model, "rater": rater, "rating": grade,
            "explanation": None, "raw": None}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def rating_files(tmp_path):
    llm = [_rating(i, "m1", "llm:j", g) for i, g in enumerate("AABC")]
    llm += [_rating(i, "m2", "llm:j", g) for i, g in enumerate(["D", "D", None, "C"])]
    human = [_rating(i, "m1", "human:alice", g) for i, g in enumerate("ABBC")]
    return _write(tmp_path / "llm.jsonl", llm), _write(tmp_path / "human.jsonl", human)


@pytest.mark.parametrize("bad, line, field, message", [
    (lambda rows: rows.append(dict(rows[0])), 3, "id", "duplicate rating"),
    (lambda rows: rows[1].update(id="user_oriented_task_252"), 2, "id", "unknown task id"),
    (lambda rows: rows[1].update(rating="E"), 2, "rating", "expected one of A, B, C, D"),
    (lambda rows: rows[0].pop("rater"), 1, "rater", "missing"),
])
def test_ratings_loader_errors(tmp_path, uo_tasks, bad, line, field, message):
    rows = [_rating(0, "m", "llm:j", "A"), _rating(1, "m", "llm:j", "B")]
    bad(rows)
    path = _write(tmp_path / "r.jsonl", rows)
    with pytest.raises(InputError, match=message) as err:
        load_ratings(path, known_ids={t.id for t in uo_tasks})
    assert (err.value.line, err.value.field) == (line, field)


def test_report_numbers_summary_and_figure(tmp_path, rating_files, user_oriented_file, capsys):
    out = tmp_path / "report"
    assert main([*UO, "report", "--ratings", *map(str, rating_files), "--out", str(out),
                 "--tasks-file", str(user_oriented_file)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary == {
        "m1": {"A": 0.375, "B": 0.375, "C": 0.25, "D": 0.0, "unrated": 0},
        "m2": {"A": 0.0, "B": 0.0, "C": pytest.approx(1 / 3), "D": pytest.approx(2 / 3), "unrated": 1},
    }
    agreement = json.loads((out / "agreement.json").read_text())
    (pair,) = agreement["human_vs_llm"]
    # m1 items: llm A,A,B,C vs alice A,B,B,C: po 3/4, pe 5/16 -> kappa 7/11
    assert (pair["rater_a"], pair["rater_b"], pair["n"]) == ("human:alice", "llm:j", 4)
    assert pair["percent_agreement"] == 0.75 and pair["cohen_kappa"] == pytest.approx(7 / 11)
    assert agreement["shares_by_kind"]["human"]["m1"]["B"] == 0.5
    report = (out / "report.md").read_text()
    assert "| m1 | 37.5% | 37.5% | 25.0% | 0.0% | 8 | 0 |" in report
    assert "| m2 | 0.0% | 0.0% | 33.3% | 66.7% | 3 | 1 |" in report
    assert "| human:alice | llm:j | 4 | 0.750 | 0.636 |" in report
    assert "## human raters" in report and "![Grade shares per model](shares.png)" in report
    png = (out / "shares.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "m2: A 0.0%  B 0.0%  C 33.3%  D 66.7%  unrated 1" in capsys.readouterr().out

    # Only the people's ratings.
    assert main([*UO, "report", "--ratings", *map(str, rating_files), "--out", str(tmp_path / "h"),
                 "--raters", "human:", "--tasks-file", str(user_oriented_file)]) == 0
    assert json.loads((tmp_path / "h" / "summary.json").read_text()) == {
        "m1": {"A": 0.25, "B": 0.5, "C": 0.25, "D": 0.0, "unrated": 0}}


def test_report_refuses_duplicates_across_files(tmp_path, rating_files, user_oriented_file, capsys):
    llm, _ = rating_files
    assert main([*UO, "report", "--ratings", str(llm), str(llm), "--out", str(tmp_path / "r"),
                 "--tasks-file", str(user_oriented_file)]) == 2
    assert "duplicate rating" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def _export(path, entries, *, rater="bob", blind=False, sheet_id="abc"):
    path.write_text(json.dumps({"format": "selfinstruct-user-oriented-ratings", "version": 1, "sheet_id": sheet_id,
                                "blind": blind, "rater": rater, "ratings": entries}))
    return path


def test_import_merges_and_refuses_duplicates_atomically(tmp_path, rating_files, user_oriented_file, capsys):
    llm, _ = rating_files
    merged = tmp_path / "merged.jsonl"
    merged.write_bytes(llm.read_bytes())
    entries = [{"key": "k0", "id": "user_oriented_task_0", "model": "m1", "rating": "B", "note": "terse"},
               {"key": "k1", "id": "user_oriented_task_1", "model": "m1", "rating": None, "note": "unsure"}]
    export = _export(tmp_path / "bob.json", entries)
    tf = ["--tasks-file", str(user_oriented_file)]
    assert main([*UO, "import-ratings", str(export), "--out", str(merged), *tf]) == 0
    rows = read_jsonl(merged)
    assert len(rows) == 9
    bob = [r for r in rows if r["rater"] == "human:bob"]
    assert bob == [{"id": "user_oriented_task_0", "model": "m1", "rater": "human:bob", "rating": "B",
                    "explanation": "terse", "raw": None, "sheet_id": "abc", "updated": None}]
    assert "1 entries without a grade left out" in capsys.readouterr().out

    # The same export again: refused, file byte-identical; --replace takes the new grade.
    before = merged.read_bytes()
    entries[0]["rating"] = "A"
    _export(export, entries)
    assert main([*UO, "import-ratings", str(export), "--out", str(merged), *tf]) == 2
    assert "--replace" in capsys.readouterr().err and merged.read_bytes() == before
    assert main([*UO, "import-ratings", str(export), "--out", str(merged), "--replace", *tf]) == 0
    assert [r["rating"] for r in read_jsonl(merged) if r["rater"] == "human:bob"] == ["A"]


@pytest.mark.parametrize("entries, extra, field", [
    ([{"key": "k", "id": "user_oriented_task_900", "model": "m", "rating": "A"}], [], "ratings[0].id"),
    ([{"key": "k", "id": "user_oriented_task_1", "model": "m", "rating": "Z"}], [], "ratings[0].rating"),
    ([{"key": "k", "model": "m", "rating": "A"}], [], "ratings[0].id"),
])
def test_import_errors(tmp_path, user_oriented_file, capsys, entries, extra, field):
    export = _export(tmp_path / "e.json", entries)
    out = tmp_path / "r.jsonl"
    assert main([*UO, "import-ratings", str(export), "--out", str(out), "--tasks-file", str(user_oriented_file),
                 *extra]) == 2
    assert capsys.readouterr().err.startswith(f"error: {export}: {field}: ")
    assert not out.exists()


def test_blind_export_needs_the_key(tmp_path, user_oriented_file, capsys):
    export = _export(tmp_path / "e.json", [{"key": "item-1", "rating": "A"}], blind=True)
    assert main([*UO, "import-ratings", str(export), "--out", str(tmp_path / "r.jsonl"),
                 "--tasks-file", str(user_oriented_file)]) == 2
    assert "--key" in capsys.readouterr().err


def test_model_without_rated_items_has_undefined_shares(tmp_path, user_oriented_file):
    path = _write(tmp_path / "r.jsonl", [_rating(0, "tiny", "llm:j", None), _rating(1, "tiny", "llm:j", None)])
    assert main([*UO, "report", "--ratings", str(path), "--out", str(tmp_path / "rep"),
                 "--tasks-file", str(user_oriented_file)]) == 0
    assert json.loads((tmp_path / "rep" / "summary.json").read_text()) == {
        "tiny": {"A": None, "B": None, "C": None, "D": None, "unrated": 2}}
    assert "| tiny | n/a | n/a | n/a | n/a | 0 | 2 |" in (tmp_path / "rep" / "report.md").read_text()
