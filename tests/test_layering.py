"""The layering table of docs/architecture.md is true: every import is followed, also the
ones inside functions."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "cerebro"
LEAVES = {"_logging", "_checks", "_upstream", "metrics", "wire", "__init__", "__version__"}
SPARK = {"pyspark", "py4j"}
KERAS = {"keras", "autokeras", "keras_tuner", "torch", "tensorflow"}


def table() -> dict[str, dict]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers (top to bottom)", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`cerebro\.(\w+)`", cells[0]) if len(cells) == 5 else None
        if m:
            rows[m.group(1)] = {"may": {x.strip() for x in cells[2].split(",")
                                        if x.strip() not in ("", "—")},
                                "spark": cells[3], "keras": cells[4]}
    return rows


def imports(path: pathlib.Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def allowed_external(rule: str, module: str) -> bool:
    if rule == "yes":
        return True
    if rule.startswith("only"):
        return module in re.findall(r"`([\w/]+)\.py`", rule)
    return False


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        yield rel.parts[0], "/".join(rel.parts), path


def test_every_package_has_a_row():
    rows = table()
    assert {"engine", "mop", "search", "storage", "nas", "tune"} <= set(rows)
    missing = {pkg for pkg, _, _ in modules() if pkg not in LEAVES and pkg not in rows}
    assert not missing, f"packages without a row in docs/architecture.md: {sorted(missing)}"


@pytest.mark.parametrize("pkg", sorted(table()))
def test_imports_follow_the_table(pkg):
    row, problems = table()[pkg], []
    for owner, module, path in modules():
        if owner != pkg:
            continue
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "cerebro" and len(parts) > 1:
                target = parts[1]
                sub = ".".join(parts[1:3])
                if target in LEAVES or target == pkg or target in row["may"] or sub in row["may"]:
                    continue
                if len(parts) == 2 and name.rsplit(".", 1)[-1] in LEAVES:
                    continue
                problems.append(f"{module} imports {name}")
            elif parts[0] in SPARK and not allowed_external(row["spark"], module):
                problems.append(f"{module} imports Spark ({name})")
            elif parts[0] in KERAS and not allowed_external(row["keras"], module):
                problems.append(f"{module} imports {parts[0]}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_scheduler_and_engine_are_pure():
    rows = table()
    for pkg in ("mop", "engine", "storage"):
        assert rows[pkg]["spark"] == "no" and rows[pkg]["keras"] == "no"


MAX_FUNCTION_LINES = 60


def long_functions(root: pathlib.Path = ROOT) -> list[str]:
    """``path:line name (n lines)`` of every function over ``MAX_FUNCTION_LINES`` in
    ``cerebro/`` and ``benchmarks/`` (Alembic migrations left out)."""
    out = []
    for d in ("cerebro", "benchmarks"):
        for path in sorted((root / d).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_over_60_lines():
    assert long_functions() == []
