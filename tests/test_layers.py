"""The import layers of DESIGN §3, checked by parsing every module's imports (no import runs).

A module may import its own package, any module of a lower layer, and nothing else; a
package's private modules (`_name`) are its own: other packages use what its `__init__`
exports. Each third-party library lives in its one place. The README's Development section
shows the same table.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rorunner"

# Layer of each component (a top-level module, or a package with its modules); a
# component imports only from strictly lower layers (and from itself).
LAYERS: dict[str, int] = {
    # 0-3, the bottom: plain data, typed errors, inputs read safely
    "errors": 0,
    "model": 1,
    "address": 1,
    "walk": 1,
    "outcome": 1,
    "signing": 1,  # the project's signing key
    "scheduling": 1,  # the run as a batch job (SCHED_BATCH); children get the policy back
    "vault": 2,
    "masking": 2,  # secret-like names, masking and escaping text that is shown
    "become": 2,  # sudo settings merged as Ansible does
    "sshopts": 2,  # OpenSSH options: honoured, refused, ignored
    "safe_yaml": 3,  # may read `!vault` values
    # 4: readers of inputs, the transport, run records
    "inventory": 4,
    "playbook": 4,
    "transport": 4,
    "records": 4,
    "plan": 5,
    "tasks": 6,  # the seed's task generators
    "engine": 7,
    "report": 8,
    "adhoc": 8,
    "testing": 8,  # the public in-memory fleet for users' tests
    "dashboard": 9,  # reads run records; only the CLI imports it
    "cli": 10,
    "__main__": 11,
    "rorunner": 11,  # the package root: the seed API, re-exported from tasks
}
BOTTOM = frozenset(name for name, layer in LAYERS.items() if layer <= 3)
# Narrower than the layer order allows: what these components may import at all.
ONLY: dict[str, frozenset[str]] = {
    "transport": BOTTOM,
    "dashboard": BOTTOM | {"records"},
}
# Third-party libraries: the components (or module prefixes) that may import each.
THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "click": ("cli",),
    "paramiko": ("rorunner.transport._ssh",),
    "invoke": ("rorunner.transport._ssh",),  # paramiko's, for ssh_config Match exec only
    "networkx": ("plan",),
    "jinja2": ("plan",),
    "yaml": ("plan",),  # PyYAML: the to_yaml/to_nice_yaml filters
    "doit": ("tasks", "engine"),
    "dash": ("dashboard",),
    "dash_ag_grid": ("dashboard",),
    "dash_cytoscape": ("dashboard",),
    "plotly": ("dashboard",),
    "flask": ("dashboard",),
    "werkzeug": ("dashboard",),
    "rich": ("report",),
    "ruamel": ("safe_yaml",),
    "cryptography": ("vault",),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written in `module` at `line`."""

    module: str  # the importing module, dotted
    target: str  # the imported module (or module.name for `from m import name`)
    line: int
    dynamic: bool = False  # importlib.import_module(f"prefix.{...}"): target is the prefix


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def component(module: str) -> str:
    """`rorunner.engine._run` -> engine; `rorunner.model` -> model; `rorunner` -> rorunner."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path, module: str = "") -> Iterator[Import]:
    """Every import of a module (named `module`, by default after its path): top level, in
    functions, under TYPE_CHECKING, and importlib.import_module calls with a literal (or
    literal-prefixed) name."""
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                yield Import(module, name.value, node.lineno)
            elif isinstance(name, ast.JoinedStr) and isinstance(name.values[0], ast.Constant):
                prefix = str(name.values[0].value)
                yield Import(module, prefix.rstrip("."), node.lineno, dynamic=True)


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )


def all_imports(*roots: Path) -> list[tuple[Path, Import]]:
    return [
        (path, found)
        for root in roots
        for path in sorted(root.rglob("*.py"))
        for found in imports_of(path)
    ]


def is_private(target: str) -> bool:
    """`rorunner.engine._run`, `rorunner.engine._run.x`, or a `_name` of a package."""
    return any(part.startswith("_") and not part.startswith("__") for part in target.split("."))


def private_violation(found: Import) -> str | None:
    """A module of one package that reaches into another package's private modules."""
    if not found.target.startswith("rorunner."):
        return None
    own, other = component(found.module), component(found.target)
    if own == other:
        return None
    if found.dynamic and found.target.count(".") == 1:
        # importlib.import_module(f"rorunner.pkg.{name}"): any module of pkg, private ones too
        return f"imports some module of rorunner.{other} by a computed name"
    if is_private(found.target.removesuffix(".__version__")):
        return f"imports {found.target}, private to rorunner.{other}"
    return None


def layer_violation(found: Import) -> str | None:
    """An import of a rorunner component that is not below the importer in LAYERS."""
    if not (found.target == "rorunner" or found.target.startswith("rorunner.")):
        return None
    own, other = component(found.module), component(found.target)
    if own == other or found.target == "rorunner.__version__":
        # Every module may read the version (the package root defines it, nothing else).
        return None
    if own not in LAYERS or other not in LAYERS:
        return f"{own if own not in LAYERS else other} has no layer in LAYERS"
    if other not in ONLY.get(own, frozenset(LAYERS)):
        return f"{own} may import only {sorted(ONLY[own])}, not {other}"
    if LAYERS[other] >= LAYERS[own]:
        return f"{own} (layer {LAYERS[own]}) imports {other} (layer {LAYERS[other]})"
    return None


def third_party_violation(found: Import) -> str | None:
    """A third-party import outside its one place (or of a library not in the table)."""
    top = found.target.split(".")[0]
    if top in ("rorunner", "__future__") or top in sys.stdlib_module_names:
        return None
    homes = THIRD_PARTY.get(top)
    if homes is None:
        return f"imports {top}, which has no place in THIRD_PARTY"
    own = component(found.module)
    if any(own == home or found.module.startswith(home) for home in homes):
        return None
    return f"imports {top}, which lives in {', '.join(homes)}"


def violations(check: Callable[[Import], str | None]) -> list[str]:
    found = []
    for path, imported in all_imports(PACKAGE):
        problem = check(imported)
        if problem:
            found.append(f"{path.relative_to(ROOT)}:{imported.line}: {problem}")
    return found


def test_every_component_has_a_layer() -> None:
    components = {component(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert components <= set(LAYERS), sorted(components - set(LAYERS))
    assert set(LAYERS) <= components, sorted(set(LAYERS) - components)


def test_no_package_imports_another_packages_private_modules() -> None:
    assert violations(private_violation) == []


def test_benchmarks_use_only_public_modules() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{imported.line}: imports {imported.target}"
        for path, imported in all_imports(ROOT / "bench")
        if imported.target.startswith("rorunner.") and is_private(imported.target)
    ]
    assert found == []


def test_imports_follow_the_layers() -> None:
    assert violations(layer_violation) == []


def test_each_third_party_library_lives_in_its_one_place() -> None:
    assert violations(third_party_violation) == []


def test_the_readme_shows_the_layer_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = line.split("|")
        if len(cells) == 5 and cells[1].strip().isdigit():
            named = re.sub(r"\([^)]*\)", "", cells[2])  # not the names in remarks
            rows[int(cells[1])] = set(re.findall(r"`([a-z_]+)`", named))
    shown = {name: layer for layer, names in rows.items() for name in names}
    assert shown == LAYERS


# The checks themselves: each catches what it is for (so a green run means something).
@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from rorunner.tasks._names import safe_name", "private to rorunner.tasks"),
        ("from rorunner.tasks import _names", "private to rorunner.tasks"),
        ("import importlib\nimportlib.import_module(f'rorunner.tasks.{x}')", "computed name"),
        ("from rorunner.tasks import safe_name", None),
        ("from rorunner.engine._run import run_plan", None),  # its own package
    ],
)
def test_the_private_check_catches_a_reach_into_another_package(
    tmp_path: Path, source: str, problem: str | None
) -> None:
    found = _imports_in("rorunner/engine/_fake.py", source, tmp_path)
    messages = [m for m in map(private_violation, found) if m]
    assert messages == [] if problem is None else problem in " ".join(messages)


@pytest.mark.parametrize(
    ("where", "source", "problem"),
    [
        ("rorunner/plan/_x.py", "from rorunner.engine import run_plan", "imports engine"),
        ("rorunner/transport/_x.py", "from rorunner.inventory import load_inventory", "only"),
        ("rorunner/transport/_x.py", "from rorunner.safe_yaml import parse_yaml", None),
        ("rorunner/dashboard/_x.py", "from rorunner.engine import run_plan", "only"),
        ("rorunner/model.py", "from rorunner.outcome import Status", "imports outcome"),
        ("rorunner/engine/_x.py", "from rorunner.plan import Plan", None),
        ("rorunner/records/_x.py", "from rorunner import __version__", None),
    ],
)
def test_the_layer_check_catches_an_upward_import(
    tmp_path: Path, where: str, source: str, problem: str | None
) -> None:
    messages = [m for m in map(layer_violation, _imports_in(where, source, tmp_path)) if m]
    assert messages == [] if problem is None else problem in " ".join(messages)


@pytest.mark.parametrize(
    ("where", "source", "ok"),
    [
        ("rorunner/plan/_x.py", "import paramiko", False),
        ("rorunner/transport/_files.py", "import paramiko", False),
        ("rorunner/transport/_ssh_x.py", "import paramiko.sftp", True),
        ("rorunner/engine/_x.py", "from doit.task import Task", True),
        ("rorunner/engine/_x.py", "import click", False),
        ("rorunner/cli/_x.py", "import somelib", False),
    ],
)
def test_the_third_party_check_keeps_each_library_in_place(
    tmp_path: Path, where: str, source: str, ok: bool
) -> None:
    messages = [m for m in map(third_party_violation, _imports_in(where, source, tmp_path)) if m]
    assert (messages == []) is ok, messages


def _imports_in(where: str, source: str, tmp_path: Path) -> list[Import]:
    """The imports of `source` as if it were the module at `where` in the tree."""
    path = tmp_path / "tree.py"
    path.write_text(source + "\n")
    return list(imports_of(path, module_name(ROOT / where)))
