"""The package's shape: stages in order, no import cycle, no private name crossing modules, short modules, and
no process settings changed by an import."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "bayesmm"
MAX_LINES = 400
#: the stages in pipeline order; a module may import its own stage and earlier ones, never a later one
STAGES = ["formula", "design", "priors", "plan", "model", "sampler", "posterior", "answers"]
#: top-level modules that belong to a stage (the rest are shared helpers or the user-facing layer)
STAGE_OF = {"formula": "formula", "formula_lexing": "formula", "data": "design", "design": "design",
            "separation": "design", "priors": "priors", "prior_rules": "priors", "distributions": "priors",
            "posterior": "posterior", "naming": "posterior"}
#: modules outside the stages: shared by all (errors, settings, tables) or the user-facing layer on top
SHARED = {"errors", "config", "version", "families", "links"}


def _module(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str):
    """(imported module, imported names, line) for every import of a module, at any depth, resolved to
    bayesmm modules; imports under ``if TYPE_CHECKING:`` are left out."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING" for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno


def _graph() -> dict:
    return {name: {t for t, _, _ in _imports(name) if t in MODULES and t != name} for name in MODULES}


def _stage(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in SHARED:
        return None
    return parts[1] if parts[1] in STAGES else STAGE_OF.get(parts[1])


def test_the_folders_show_the_stages_in_order():
    for stage in ("plan", "model", "sampler", "answers"):
        assert (PACKAGE / stage / "__init__.py").exists(), stage
    for stage in ("formula", "design", "priors", "posterior"):
        assert (PACKAGE / f"{stage}.py").exists(), stage


def test_no_stage_imports_a_later_one():
    wrong = []
    for name in MODULES:
        here = _stage(name)
        if here is None:
            continue
        for target, _, line in _imports(name):
            there = _stage(target) if target in MODULES else None
            if there is not None and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{name}:{line} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_only_the_model_and_the_sampler_import_jax():
    wrong = [f"{name}:{line} imports {target}" for name in MODULES for target, _, line in _imports(name)
             if target.split(".")[0] in ("jax", "jaxlib", "numpyro")
             and name.split(".")[1:2] not in (["model"], ["sampler"])]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_even_through_imports_inside_functions():
    graph, order, low, stack, on_stack, cycles = _graph(), {}, {}, [], set(), []

    def visit(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in order:
            visit(v)
    assert not cycles, cycles


def test_no_private_name_is_imported_from_another_module():
    wrong = [f"{name}:{line} imports {imported} from {target}" for name in MODULES
             for target, imported, line in _imports(name)
             if imported.startswith("_") and not imported.startswith("__") and target.startswith("bayesmm")]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_the_limit(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines (at most {MAX_LINES}): split it by what it does"


def test_answers_read_the_fit_record_not_a_model_behind_it():
    """Every answer reads the Fit's own fields: no ``fit.model``, no private cache."""
    wrong = []
    for name, path in MODULES.items():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "fit.model" in line or "fit._cache" in line or "._memo" in line and name != "bayesmm.fit":
                wrong.append(f"{name}:{number}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_importing_bayesmm_changes_no_jax_setting():
    """Precision and the compilation cache are set when a fit starts, not by an import."""
    code = ("import jax; import bayesmm, bayesmm.sampler.run, bayesmm.model, bayesmm.answers.report; "
            "print(jax.config.jax_enable_x64, jax.config.jax_compilation_cache_dir)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "None"]


def test_importing_bayesmm_or_the_command_line_imports_no_heavy_library():
    """``import bayesmm`` and the command line's parser (``--help``, ``--version``) import neither jax, numpyro,
    arviz, matplotlib, formulae, scipy nor pandas: the public names load them when first used. The names are
    all there, and ``bayesmm.fit`` stays the function once the submodule ``bayesmm.fit`` is imported."""
    heavy = ("jax", "numpyro", "arviz", "matplotlib", "formulae", "scipy", "pandas")
    code = ("import contextlib, io, sys, bayesmm, bayesmm.cli\n"
            "for argv in (['--help'], ['--version'], ['fit', '--help']):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "        bayesmm.cli.main(argv)\n"
            f"print(*[name for name in {heavy!r} if name in sys.modules]); "
            "import bayesmm.fit; from bayesmm import *; "
            "print(callable(bayesmm.fit), bayesmm.fit.__module__, all(hasattr(bayesmm, n) for n in bayesmm.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["", "True bayesmm.api True"], out
