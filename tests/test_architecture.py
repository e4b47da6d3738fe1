"""Architecture contracts (pyproject.toml, [tool.importlinter]) and the file-size rule.

The contracts are checked against this checkout's source, whatever is installed: a wheel
installed over the editable one would otherwise be what grimp reads. So the lint runs in a
child process whose path holds a `selfinstruct/` made of links to the source folders.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 450
BUILDER = "selfinstruct_dataset"


def _source_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "selfinstruct").mkdir(parents=True)
    for name in ("generation", "evaluation"):
        (tree / "selfinstruct" / name).symlink_to(REPO / name, target_is_directory=True)
    return tree


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(_source_tree(tmp_path))}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_import_contracts_hold(tmp_path):
    proc = _run(tmp_path, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                "--config", str(REPO / "pyproject.toml"), "--no-cache")
    if "No module named 'importlinter'" in proc.stderr:
        raise AssertionError("import-linter is missing: pip install -e '.[test]'")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _builder_imports() -> list[str]:
    """Every selfinstruct module selfinstruct_dataset.py imports, at any level of the file, with
    `from package import name` also giving `package.name` (kept only if it is a module)."""
    tree = ast.parse((REPO / f"{BUILDER}.py").read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("selfinstruct."):
            out += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("selfinstruct.")]
    return sorted(set(out))


def test_dataset_builder_and_publish_form_no_cycle(tmp_path):
    # grimp cannot scan a lone top-level module, so the builder's own imports are read here and
    # added to the graph by hand; a cycle is a chain from one of them back to the builder.
    imports = _builder_imports()
    assert imports, "selfinstruct_dataset.py imports nothing from selfinstruct: parser out of date?"
    script = textwrap.dedent(f"""
        import json, sys, grimp
        graph = grimp.build_graph("selfinstruct.generation", "selfinstruct.evaluation",
                                  include_external_packages=True, cache_dir=None)
        chains = []
        for module in json.loads(sys.argv[1]):
            if module not in graph.modules:  # a name imported from a module, not a submodule
                continue
            graph.add_import(importer={BUILDER!r}, imported=module)
            if {BUILDER!r} in graph.modules:
                chain = graph.find_shortest_chain(importer=module, imported={BUILDER!r})
                if chain:
                    chains.append([{BUILDER!r}, *chain])
        print(json.dumps(chains))
    """)
    proc = _run(tmp_path, "-c", script, json.dumps(imports))
    assert proc.returncode == 0, proc.stderr
    cycles = json.loads(proc.stdout)
    assert not cycles, "import cycles through selfinstruct_dataset.py:\n" + "\n".join(
        " -> ".join(chain) for chain in cycles)


def test_no_source_file_over_the_line_limit():
    files = [*sorted((REPO / "generation").rglob("*.py")), *sorted((REPO / "evaluation").rglob("*.py")),
             REPO / f"{BUILDER}.py"]
    sizes = {f.relative_to(REPO).as_posix(): len(f.read_text(encoding="utf-8").splitlines()) for f in files}
    offenders = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not offenders, f"over {MAX_LINES} lines (split them by what changes together): " + ", ".join(
        f"{name} ({n})" for name, n in sorted(offenders.items()))
