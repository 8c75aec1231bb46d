"""The package's layers: the base at the root, four wings above it, the command line and the
rules' bodies on top. Each module imports only its own layer and the layers below it, read from
the code's own import statements (module level and inside functions alike)."""
import ast
from pathlib import Path

from helpers import REPO

TKD = REPO / "tkd"
BASE = {"__init__", "errors", "files", "provenance", "layout", "runstate", "terminal"}
TOP = {"__main__", "cli", "jobs"}
# bottom to top: a wing may import the base and the wings before it in this list
WINGS = ["training", "grid", "statistics", "report"]
LAYER = {"base": 0, **{w: i + 1 for i, w in enumerate(WINGS)}, "top": len(WINGS) + 1}


def layer_of(module: str) -> str:
    """The layer of a module named as imported (tkd.statistics.claims, tkd.grid, tkd.files)."""
    parts = module.split(".")
    assert parts[0] == "tkd", module
    if len(parts) == 1:
        return "base"
    if parts[1] in WINGS:
        return parts[1]
    return "base" if parts[1] in BASE else "top"


def imported(path: Path) -> set[str]:
    """The tkd modules a file imports, absolute (relative imports resolved)."""
    package = list(path.relative_to(REPO).with_suffix("").parts)
    package = package[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "tkd"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
                out |= set(names)
            elif node.module and node.module.split(".")[0] == "tkd":
                out.add(node.module)
    return out


def test_the_package_is_the_base_four_wings_and_the_top():
    entries = {p.name for p in TKD.iterdir() if p.name != "__pycache__"}
    assert entries == {f"{m}.py" for m in BASE | TOP} | set(WINGS), sorted(entries)
    for wing in WINGS:
        assert (TKD / wing / "__init__.py").is_file(), wing


def test_each_layer_imports_only_itself_and_the_layers_below():
    wrong = []
    for path in TKD.rglob("*.py"):
        mine = layer_of(".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"))
        for module in imported(path):
            theirs = layer_of(module)
            if LAYER[theirs] > LAYER[mine]:
                wrong.append(f"{path.relative_to(REPO)} ({mine}) imports {module} ({theirs})")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_check_sees_imports_at_every_depth():
    """The reader finds a lazy import inside a function, and resolves two dots from a wing."""
    found = imported(TKD / "statistics" / "plan.py")
    assert "tkd.grid" in found and any(m.startswith("tkd.statistics.designs") for m in found)
    assert layer_of("tkd.grid") == "grid" and layer_of("tkd.files") == "base" and layer_of("tkd.cli") == "top"
