"""The house's imports point one way: a package imports only from the layers below its own.

Read from the source (every import, also those inside functions), so an upward import fails here even
when no test happens to run the line that makes it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lofi

SRC = Path(lofi.__file__).parent

# lowest first; a package may import from any layer below its own, never from its own layer or above
LAYERS = (
    {"settings", "files", "progress", "instruments", "moods", "tracing", "limits"},
    {"track"},  # the track folder: ground floor, above files (atomic writes), below the catalog that reads it
    {"logs", "theory", "catalog"},
    {"corpus"},
    {"tokens"},
    {"model"},
    {"compose"},
    {"render", "analysis"},
    {"publish"},
    {"jobs"},
    {"api"},
    {"cli"},
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def package_of(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else path.stem


def imports(path: Path) -> list[tuple[str, int]]:
    """The lofi packages ``path`` imports, with the line of each import."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [(name.split(".")[1], node.lineno) for name in names if name.startswith("lofi.")]
    return found


def violations(root: Path) -> list[str]:
    """Each import under ``root`` (a tree laid out like lofi's) that points up or sideways."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        package = package_of(path, root)
        if package not in RANK:
            continue
        for target, line in imports(path):
            if target != package and RANK[target] >= RANK[package]:
                wrong.append(f"{path.relative_to(root)}:{line} imports lofi.{target}")
    return wrong


def test_every_package_has_a_layer():
    packages = {package_of(path) for path in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert packages <= set(RANK), f"packages with no layer: {sorted(packages - set(RANK))}"


def test_imports_point_down():
    wrong = violations(SRC)
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_rule_catches_upward_and_sideways_imports(tmp_path):
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose" / "writer.py").write_text(
        "from lofi.theory import Key\n\ndef late():\n    from lofi.analysis import metrics\n", encoding="utf-8"
    )
    (tmp_path / "render").mkdir()
    (tmp_path / "render" / "track.py").write_text("import lofi.analysis.images\n", encoding="utf-8")
    assert violations(tmp_path) == [
        "compose/writer.py:4 imports lofi.analysis",
        "render/track.py:1 imports lofi.analysis",
    ]


def test_the_music_layers_load_without_the_server():
    """Composing and rendering import neither FastAPI nor the job queue nor the CLI."""
    code = (
        "import sys, lofi.compose, lofi.render.track\n"
        "print(sorted(m for m in sys.modules if m.startswith(('fastapi', 'lofi.api', 'lofi.jobs', 'lofi.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_api_loads_without_torch():
    """Importing the API (what `lofi serve` and every API worker do first) loads no torch, transformers or
    MidiTok: request validation reads its limits from the ground floor (lofi.limits)."""
    code = (
        "import sys, lofi.api.app\nprint(sorted(m for m in ('torch', 'transformers', 'miditok') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
