"""The layering rules of DESIGN.md, checked on every import statement of the source tree:
core <- sensors <- fusion <- apps; fusion also sizes models with firmware.compiler and
firmware.size; firmware.compiler imports only core; firmware imports core and itself; nothing
imports tests; bench imports only the packages (and itself); nobody imports the fixed folders
under their bare names (``sensors``, ``apps``, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# package -> what it may import of ours (longest matching prefix wins)
ALLOWED: dict[str, tuple[str, ...]] = {
    "tinyfuse.core": ("tinyfuse.core",),
    "tinyfuse.sensors": ("tinyfuse.core", "tinyfuse.sensors"),
    "tinyfuse.fusion": ("tinyfuse.core", "tinyfuse.sensors", "tinyfuse.fusion",
                        "tinyfuse.firmware.compiler", "tinyfuse.firmware.size"),
    "tinyfuse.firmware.compiler": ("tinyfuse.core", "tinyfuse.firmware.compiler"),
    "tinyfuse.firmware": ("tinyfuse.core", "tinyfuse.firmware"),
    "tinyfuse.apps": ("tinyfuse.core", "tinyfuse.sensors", "tinyfuse.fusion",
                      "tinyfuse.firmware", "tinyfuse.apps"),
    "bench": ("tinyfuse", "bench"),
    "tests": ("tinyfuse", "bench", "tests"),
}
ROOTS = {"tinyfuse/core": "tinyfuse.core", "sensors": "tinyfuse.sensors",
         "fusion": "tinyfuse.fusion", "firmware": "tinyfuse.firmware", "apps": "tinyfuse.apps",
         "bench": "bench", "tests": "tests"}
OURS = ("tinyfuse", "sensors", "fusion", "apps", "firmware", "bench", "tests")


def module_name(root: Path, path: Path) -> str:
    """The import name of ``path`` (a file under ``root``, the repository)."""
    relative = path.relative_to(root).with_suffix("")
    for folder, package in sorted(ROOTS.items(), key=lambda item: -len(item[0])):
        if relative.as_posix() == folder or relative.as_posix().startswith(folder + "/"):
            rest = relative.as_posix()[len(folder):].strip("/").replace("/", ".")
            name = f"{package}.{rest}" if rest else package
            return name.removesuffix(".__init__")
    return relative.as_posix().replace("/", ".")


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import of ours in ``tree`` (``from tinyfuse
    import sensors`` counts as ``tinyfuse.sensors``; ``__version__`` is not a layer)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                target = ".".join([*parts, *([node.module] if node.module else [])])
            if target == "tinyfuse":
                found += [(node.lineno, f"tinyfuse.{alias.name}") for alias in node.names
                          if alias.name != "__version__"]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def _rule(module: str) -> tuple[str, ...] | None:
    matches = [key for key in ALLOWED if module == key or module.startswith(key + ".")]
    return ALLOWED[max(matches, key=len)] if matches else None


def violations(root: Path) -> list[str]:
    """Every import that breaks a rule, as ``path:line: module imports name``."""
    problems = []
    for folder in ROOTS:
        for path in sorted((root / folder).rglob("*.py")):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            module = module_name(root, path)
            allowed = _rule(module)
            tree = ast.parse(path.read_text(), filename=str(path))
            for line, name in imported(tree, module, path.name == "__init__.py"):
                where = f"{path.relative_to(root)}:{line}: {module} imports {name}"
                if name.split(".")[0] in ("sensors", "fusion", "apps", "firmware"):
                    problems.append(f"{where} (use tinyfuse.{name})")
                elif allowed is not None and not any(
                        name == a or name.startswith(a + ".") for a in allowed):
                    problems.append(f"{where} (allowed: {', '.join(allowed)})")
    return problems


def test_the_source_tree_keeps_the_layers():
    assert violations(REPO) == []


def test_the_check_fails_on_a_forbidden_import(tmp_path):
    for folder, text in {
        "tinyfuse/core": "from tinyfuse.sensors.spec import ModalitySpec\n",
        "sensors": "import tinyfuse.fusion.model\n",
        "firmware/compiler": "from tinyfuse.fusion import export\n",
        "fusion": "from tinyfuse.apps.policy import Policy\nfrom . import spec\n",
        "apps": "from sensors import extract\n",
        "bench": "from tests.firmware import models\n",
        "tests": "from tinyfuse.core import errors\n",
    }.items():
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "bad.py").write_text(text)
    found = violations(tmp_path)
    assert len(found) == 6, found
    assert any("tinyfuse.core.bad imports tinyfuse.sensors.spec" in v for v in found)
    assert any("tinyfuse.firmware.compiler.bad imports tinyfuse.fusion" in v for v in found)
    assert any("(use tinyfuse.sensors)" in v for v in found)
    assert any("bench.bad imports tests.firmware" in v for v in found)
    assert not any("fusion.spec" in v for v in found)  # a relative import inside the layer
