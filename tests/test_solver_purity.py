"""`solver/` is a pure library: no web framework, no database, no app (issue 2).

Checked twice: statically, by reading every import statement of every module under solver/
(including imports inside functions and `if TYPE_CHECKING` blocks, and `importlib` calls with
a literal name), and dynamically, by importing the package in a fresh interpreter and looking
at what ended up in sys.modules.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
SOLVER = ROOT / "solver"
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "alembic", "app")


def forbidden(module: str) -> bool:
    top = module.split(".")[0]
    return top in FORBIDDEN


def modules_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source`; relative imports resolved from `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: max(0, len(parts) - node.level + 1)]
                module = ".".join([*base, module] if module else base)
            if module:
                found.append((node.lineno, module))
            else:  # `from .. import x` above the top package: x itself is the module
                found.extend((node.lineno, alias.name) for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in {"__import__", "import_module"}
                )
            )
        ):
            found.append((node.lineno, node.args[0].value))
    return sorted(found)


def solver_files() -> list[Path]:
    files = sorted(SOLVER.rglob("*.py"))
    assert SOLVER / "__init__.py" in files
    return files


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def test_the_static_check_sees_every_spelling_of_an_import() -> None:
    source = (
        "import fastapi\n"
        "from sqlalchemy.orm import Session\n"
        "def f():\n"
        "    import starlette.requests\n"
        "    from app.db import x\n"
        "    importlib.import_module('alembic')\n"
        "    from .. import app\n"
        "from solver import solve\n"
        "from . import pricing\n"
    )
    modules = [m for _, m in modules_in(source, "solver") if forbidden(m)]
    assert modules == [
        "fastapi",
        "sqlalchemy.orm",
        "starlette.requests",
        "app.db",
        "alembic",
        "app",
    ]


def test_no_solver_module_imports_web_database_or_app_code() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in solver_files()
        for line, module in modules_in(path.read_text(encoding="utf-8"), package_of(path))
        if forbidden(module)
    ]
    assert offending == [], "solver/ must stay a pure library:\n" + "\n".join(offending)


def test_importing_solver_loads_none_of_them() -> None:
    script = (
        "import json, sys\n"
        "import solver, solver.examples\n"
        "from solver import solve, validate, ProblemInvalid\n"
        "import pkgutil, importlib\n"
        "for info in pkgutil.walk_packages(solver.__path__, 'solver.'):\n"
        "    importlib.import_module(info.name)\n"
        f"bad = {FORBIDDEN!r}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in bad)\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing solver loaded {loaded}"


def test_solving_loads_none_of_them() -> None:
    # A whole solve (validation, model, HiGHS, baselines, plan) in a fresh interpreter.
    script = (
        "import json, sys\n"
        "from solver import solve\n"
        "from solver.examples import generate_problem\n"
        "plan = solve(generate_problem('tiny', 1), workers=1)\n"
        "assert plan['status'] in ('optimal', 'feasible'), plan['status']\n"
        f"bad = {FORBIDDEN!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in bad)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"solving loaded {loaded}"
