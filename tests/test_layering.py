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


# -- the lock rule and the key rule (grep-level) ---------------------------------------------------
def code_strings(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every string literal in ``path``'s code, docstrings left out."""
    import io
    import tokenize

    source = path.read_text()
    docs = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                docs.update(range(body[0].lineno, body[0].end_lineno + 1))
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and tok.start[0] not in docs:
            out.append((tok.start[0], tok.string))
        elif tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            out.append((tok.start[0], tok.string))
    return out


def code_text(path: pathlib.Path) -> str:
    """``path``'s source without comments and docstrings."""
    import io
    import tokenize

    docs = {line for line, _ in []}
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                docs.update(range(body[0].lineno, body[0].end_lineno + 1))
    keep = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type != tokenize.COMMENT and not (t.type == tokenize.STRING and t.start[0] in docs)]
    return " ".join(keep)


def cerebro_files():
    return sorted(p for p in PKG.rglob("*.py") if "migrations" not in p.parts)


def test_only_keras_state_defines_a_build_lock():
    """One Keras build lock (``keras/state.py``'s ``KERAS_BUILD_LOCK``), taken by every
    driver-side build: a second lock would let builds race again."""
    problems = []
    for path in cerebro_files():
        rel = str(path.relative_to(PKG))
        code = code_text(path)
        for m in re.finditer(r"\b(\w*(?:BUILD|KERAS)\w*LOCK\w*)\s*=", code):
            if rel != "keras/state.py":
                problems.append(f"{rel} defines {m.group(1)}")
        builds = re.search(r"clear_session\s*\(|saving\s*\.\s*load_model\s*\(|graph\s*\.\s*build\s*\(",
                           code)
        if builds and "KERAS_BUILD_LOCK" not in code:
            problems.append(f"{rel} builds or loads a Keras model without KERAS_BUILD_LOCK")
    for rel in ("search/runner.py", "nas/builder.py", "nas/schema.py", "dashboard/model_file.py"):
        if not re.search(r"with\s+KERAS_BUILD_LOCK", code_text(PKG / rel)):
            problems.append(f"{rel} does not build under KERAS_BUILD_LOCK")
    assert not problems, "\n".join(problems)


RUN_KEY = re.compile(r"\bstate-|(^|/)model\.keras\b|\blog\.json\b|custom_objects\.pkl|"
                     r"transformation_fn\.pkl|^['\"]?runs/")


def test_only_the_run_layout_spells_run_keys():
    """Run keys (spec, states, log, custom objects, transformation) are spelled in
    ``storage/layout.py`` only; workers read the keys a ``VisitTask`` carries."""
    problems = []
    for path in cerebro_files():
        rel = str(path.relative_to(PKG))
        if rel == "storage/layout.py":
            continue
        for line, text in code_strings(path):
            body = text.lstrip("rbfuRBFU").strip("'\"")
            if RUN_KEY.search(body) and not body.startswith("/"):  # "/": a dashboard route
                problems.append(f"{rel}:{line} spells a run key: {text}")
        if re.search(r"_key\s*\.\s*rsplit\s*\(", code_text(path)):
            problems.append(f"{rel} takes a store key apart (rsplit)")
    assert not problems, "\n".join(problems)


# -- every file and function docs/architecture.md names exists -------------------------------------
EXTERNAL_ROOTS = {"keras", "spark", "sc", "torch", "autokeras", "ak", "kt", "np", "df", "model",
                  "oracle", "hp", "hps", "fit", "os", "sys"}


def _definitions() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(module dotted name -> names it defines (top level, class members), class name ->
    its members)`` over ``cerebro/``."""
    modules: dict[str, set[str]] = {}
    classes: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        names = modules.setdefault(name, set())
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        names.add(t.id)
                    elif isinstance(t, ast.Attribute):
                        names.add(t.attr)
            elif isinstance(node, (ast.ImportFrom, ast.Import)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            if isinstance(node, ast.ClassDef):
                members = classes.setdefault(node.name, set())
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        members.add(sub.name)
                    elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
                        members.add(sub.target.id)
                    elif isinstance(sub, ast.Assign):
                        members.update(t.id for t in sub.targets if isinstance(t, ast.Name))
                    if isinstance(sub, (ast.Assign, ast.AnnAssign)):
                        targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                        members.update(t.attr for t in targets if isinstance(t, ast.Attribute))
    return modules, classes


def _resolve(dotted: str, modules: dict[str, set[str]], classes: dict[str, set[str]]) -> bool:
    """Whether a ``module.func``/``Class.member`` name (maybe without the ``cerebro.``
    prefix, maybe a trailing part of a module path) exists."""
    parts = dotted.split(".")
    if parts[0] == "cerebro":
        parts = parts[1:]
    for cut in range(len(parts), 0, -1):  # the longest module path that matches
        tail = ".".join(parts[:cut])
        found = [m for m in modules if m == "cerebro." + tail or m.endswith("." + tail)]
        if found:
            rest = parts[cut:]
            if not rest:
                return True
            if any(rest[0] in modules[m] or f"{m}.{rest[0]}" in modules for m in found):
                return len(rest) == 1 or rest[1] in classes.get(rest[0], {rest[1]})
            return False
    if parts[0] in classes:
        return all(p in classes[parts[0]] for p in parts[1:2])
    return True  # not a cerebro name (a library's, a config key)


def architecture_names() -> tuple[list[str], list[str]]:
    """``(paths, dotted names)`` in backticks in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # the store layout listing
    paths, dotted = [], []
    for raw in re.findall(r"`([^`\n]+)`", text):
        tok = raw.strip()
        if re.fullmatch(r"[\w./{},-]+/[\w.{},-]*", tok) and "<" not in tok:
            m = re.fullmatch(r"(.*)\{([\w,]+)\}(.*)", tok)
            paths += [m.group(1) + x + m.group(3) for x in m.group(2).split(",")] if m else [tok]
            continue
        name = re.split(r"[(\[ ]", tok, maxsplit=1)[0]
        if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", name) \
                and name.split(".")[0] not in EXTERNAL_ROOTS \
                and not name.endswith((".py", ".md", ".json", ".npz", ".keras", ".pkl", ".js")):
            dotted.append(name)
    return paths, dotted


def test_every_file_and_function_architecture_md_names_exists():
    paths, dotted = architecture_names()
    assert len(paths) > 20 and len(dotted) > 20  # the parser still finds them
    missing = [p for p in paths if "." in p.rsplit("/", 1)[-1] or p.endswith("/")
               if not any((base / p).exists() for base in (ROOT, PKG, ROOT / "tests",
                                                            ROOT / "docs"))]
    modules, classes = _definitions()
    assert not _resolve("RunLayout.no_such_key", modules, classes)  # the check can fail
    assert not _resolve("engine.hopper.no_such_function", modules, classes)
    missing += [d for d in dotted if not _resolve(d, modules, classes)]
    assert not missing, "named in docs/architecture.md but not in the code:\n" + \
        "\n".join(sorted(set(missing)))
