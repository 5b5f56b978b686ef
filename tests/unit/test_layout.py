"""The layout rules of DESIGN.md that import-linter cannot see (its contracts in pyproject.toml cover
who imports whom, run by `make test`): no library loads Streamlit into embedlab, pages stay thin,
modules and functions stay small, and state keys are declared once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Top-level module names imported anywhere in the file (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_importing_every_embedlab_module_loads_no_streamlit():
    modules = sorted(
        "embedlab." + ".".join(p.relative_to(ROOT / "embedlab").with_suffix("").parts)
        for p in (ROOT / "embedlab").rglob("*.py") if p.name != "__init__.py"
    )
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_module_over_600_lines_and_no_function_over_60():
    """One job per module: a module or function past these sizes has a seam to split along."""
    long_modules, long_functions = [], []
    for folder in ("embedlab", "components", "pages", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            name = str(path.relative_to(ROOT))
            lines = source.count("\n")
            if lines > 600:
                long_modules.append(f"{name}: {lines} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:
                    long_functions.append(f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long_modules == [] and long_functions == []


def test_pages_are_thin_scripts_calling_one_render():
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{path.name}: the docstring's first line is its summary on Home"
        assert _imports(path) <= {"components", "components.views"}, f"{path.name} imports {_imports(path)}"
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "render"]
        assert len(calls) == 1, f"{path.name}: exactly one <view>.render(ctx) call"
        statements = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)][1:]  # after the docstring
        assert len(statements) <= 3, f"{path.name} does more than set up and render"
    assert not (ROOT / "pages" / "__init__.py").exists()  # it would show up as a page


def test_every_session_key_literal_in_components_is_declared():
    """Keys read or written through st.session_state are declared in components/state.py."""
    from components import state

    declared = set(state.VALUES) | set(state.WIDGETS) | state.TRANSIENT
    undeclared = {}
    for path in (ROOT / "components").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # ss["literal"], st.session_state["literal"], ss.get("literal") ...
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                target, key = node.value, node.slice.value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("get", "pop", "setdefault") and node.args
                  and isinstance(node.args[0], ast.Constant)):
                target, key = node.func.value, node.args[0].value
            else:
                continue
            name = ast.unparse(target)
            if isinstance(key, str) and name in ("ss", "st.session_state", "session_state") and key not in declared:
                undeclared.setdefault(path.name, []).append(key)
    assert undeclared == {}


def test_every_declared_widget_is_drawn_with_session_persistence():
    """A declared widget keeps its value across pages only with persist_state="session"; and
    only declared widgets get it (a literal key would not be seeded or checked)."""
    from components import state

    constants = {name: getattr(state, name) for name in dir(state) if name.isupper()}
    missing, undeclared = [], []
    for path in (ROOT / "components").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            key = kw.get("key")
            persisted = isinstance(kw.get("persist_state"), ast.Constant) and kw["persist_state"].value == "session"
            if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name) and key.value.id in ("state", "S"):
                if constants.get(key.attr) in state.WIDGETS and not persisted:
                    missing.append(f"{path.name}:{node.lineno} {key.attr}")
            elif persisted and not (isinstance(key, ast.Name) and path.name == "instruction_picker.py"):
                undeclared.append(f"{path.name}:{node.lineno}")
    assert missing == [] and undeclared == []
