from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selfinstruct.generation.cli import main

from .conftest import ref_filter, ref_scores


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_filter_keeps_in_order_against_pool_and_kept(tmp_path, corpus, seed_file):
    rows = [{"instruction": t, "id": i} for i, t in enumerate(corpus[:120])]
    rows.insert(5, {"instruction": rows[0]["instruction"] + "!", "id": "dup"})  # near-copy of an input row
    seeds = [json.loads(line)["instruction"] for line in seed_file.read_text().splitlines() if line.strip()]
    rows.insert(9, {"instruction": seeds[3].upper(), "id": "seed-copy"})  # near-copy of an --against row
    src = write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out" / "kept.jsonl"
    assert main(["filter", str(src), "--out", str(out), "--against", str(seed_file), "--no-progress"]) == 0
    texts = [r["instruction"] for r in rows]
    expected = [r for r, k in zip(rows, ref_filter(texts, seeds)) if k]
    assert read(out) == expected  # kept records unchanged, in input order
    rejected = read(tmp_path / "out" / "kept.rejected.jsonl")
    assert len(rejected) == len(rows) - len(expected)
    by_id = {r["record"]["id"]: r for r in rejected}
    assert by_id["dup"]["nearest"] == {"text": rows[0]["instruction"], "file": str(src), "line": 1}
    assert by_id["dup"]["line"] == 6 and by_id["dup"]["score"] == 1.0
    assert by_id["seed-copy"]["nearest"]["file"] == str(seed_file)
    assert by_id["seed-copy"]["nearest"]["line"] == 4
    for r in rejected:  # the reported score is the real maximum, per rouge_score
        pool = seeds + [k["instruction"] for k in expected if texts.index(k["instruction"]) < r["line"] - 1]
        assert r["score"] == max(ref_scores(pool, r["record"]["instruction"]))


def test_inclusive_threshold_field_and_rejected_path(tmp_path):
    # 7 of 10 tokens shared at equal lengths: ROUGE-L exactly 0.7
    a = "w0 w1 w2 w3 w4 w5 w6 a7 a8 a9"
    b = "w0 w1 w2 w3 w4 w5 w6 b7 b8 b9"
    src = write(tmp_path / "in.jsonl", [{"text": a}, {"text": b}])
    strict, inclusive = tmp_path / "s.jsonl", tmp_path / "i.jsonl"
    assert main(["filter", str(src), "--out", str(strict), "--field", "text", "--no-progress"]) == 0
    assert main(["filter", str(src), "--out", str(inclusive), "--field", "text", "--inclusive",
                 "--rejected", str(tmp_path / "why.jsonl"), "--no-progress"]) == 0
    assert len(read(strict)) == 2 and read(tmp_path / "s.rejected.jsonl") == []
    assert read(inclusive) == [{"text": a}]
    assert read(tmp_path / "why.jsonl")[0]["score"] == 0.7
    assert main(["filter", str(src), "--out", str(strict), "--field", "text", "--threshold", "0.69",
                 "--no-progress"]) == 0
    assert len(read(strict)) == 1


@pytest.mark.parametrize("rows, line, message", [
    ([{"instruction": "ok"}, {"other": "x"}], 2, "instruction: missing field"),
    ([{"instruction": "ok"}, {"instruction": ["x"]}], 2, "instruction: expected a string, got list"),
    ([{"instruction": "ok"}, "{not json"], 2, "invalid JSON"),
    (["[1, 2]"], 1, "expected a JSON object"),
])
def test_bad_input_is_one_line_error_and_writes_nothing(tmp_path, capsys, rows, line, message):
    src = write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    assert main(["filter", str(src), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {src}:{line}: " + err[0].split(f"{src}:{line}: ", 1)[1]]
    assert message in err[0]
    assert out.read_text() == "previous\n"  # untouched
    assert not (tmp_path / "out.rejected.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_bad_against_file_names_it(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", [{"instruction": "a"}])
    seeds = write(tmp_path / "seeds.jsonl", [{"instruction": "b"}, {"instruction": None}])
    assert main(["filter", str(src), "--out", str(tmp_path / "o.jsonl"), "--against", str(seeds)]) == 2
    assert f"{seeds}:2: instruction: expected a string" in capsys.readouterr().err


def test_command_line_entry_point(tmp_path):
    src = write(tmp_path / "in.jsonl", [{"instruction": "Write a poem about cats."},
                                        {"instruction": "write a poem about cats"}])
    proc = subprocess.run([sys.executable, "-m", "selfinstruct.generation.cli", "filter", str(src),
                           "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kept 1 of 2" in proc.stderr
    assert len(read(tmp_path / "o.rejected.jsonl")) == 1
    bad = subprocess.run([sys.executable, "-m", "selfinstruct.generation.cli", "filter", str(src),
                          "--out", str(tmp_path / "o.jsonl"), "--threshold", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr
