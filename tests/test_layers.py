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
    {"radio"},  # the endless stream: composes through the model like a worker, served by the API and the CLI
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


def module_of(path: Path, root: Path = SRC) -> str:
    """``lofi.jobs.queue`` for root/jobs/queue.py, ``lofi.jobs`` for root/jobs/__init__.py."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in {getattr(test, "id", None), getattr(test, "attr", None)}


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Each module under ``root`` and the lofi modules it imports when it runs, at module level or inside a
    function; imports under ``if TYPE_CHECKING:`` never run and are left out. ``from lofi.p import n`` reads
    the package ``lofi.p`` (its ``__init__``, its ``__getattr__``), so it counts as importing ``lofi.p``,
    and ``lofi.p.n`` too when that is a module."""
    modules = {module_of(path, root): path for path in root.rglob("*.py")}

    def owner(name: str) -> str | None:  # lofi.p.m.Name -> lofi.p.m
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            if _type_checking(node):
                stack += node.orelse  # type: ignore[attr-defined]
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..p import y
                    up = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{up}.{base}" if base else up
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            found |= {target for name in names if (target := owner(name)) and target.startswith(root.name)}
            stack += ast.iter_child_nodes(node)
        graph[module] = found - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan's strongly
    connected components of more than one module), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = [stack.pop()]
            while group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_module_imports_itself_back():
    """No lofi module imports, directly or through others, a module that imports it: a package's
    ``__init__`` re-exports from its submodules, which never import it; a piece two modules share lives in
    the lower one. Runtime imports count, those inside functions too; ``if TYPE_CHECKING:`` ones do not
    (they never run)."""
    found = cycles(import_graph())
    assert not found, "modules that import each other:\n" + "\n".join(" <-> ".join(group) for group in found)


def test_the_cycle_rule_catches_package_function_level_cycles(tmp_path):
    root = tmp_path / "lofi"
    (root / "pub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    # the package re-exports from a submodule that reads the package back (a sibling through it)
    (root / "pub" / "__init__.py").write_text("from lofi.pub.video import render\n")
    (root / "pub" / "video.py").write_text("from lofi.pub import art\n\ndef render(): ...\n")
    (root / "pub" / "art.py").write_text("")
    # a cycle only inside functions still runs
    (root / "gen.py").write_text("def decode():\n    from lofi.infill import Plan\n")
    (root / "infill.py").write_text("from lofi.gen import decode\n\nclass Plan: ...\n")
    # one only for the type checker never runs
    (root / "cache.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lofi.queue import Config\n"
    )
    (root / "queue.py").write_text("from lofi.cache import make\n")
    assert cycles(import_graph(root)) == [["lofi.gen", "lofi.infill"], ["lofi.pub", "lofi.pub.video"]]


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


def test_the_running_server_loads_no_torch(tmp_path, tiny_checkpoint):
    """The API process itself, started as `lofi serve` starts it (the app's lifespan: catalog, model id,
    queue), answers /health and queues a job without torch or transformers: the model id comes from the
    checkpoint's files and the queue imports neither the pipeline nor the composer. A fresh interpreter,
    because this test process has torch loaded already. (The embedded workers, which compose, do load it.)"""
    code = f"""
import sys
from fastapi.testclient import TestClient
from lofi.api import create_app
from lofi.settings import Settings

settings = Settings(home={str(tmp_path / "home")!r}, default_model={str(tiny_checkpoint.path)!r})
with TestClient(create_app(settings, start_workers=False)) as client:
    assert client.get("/api/v1/health").status_code == 200
    answer = client.post("/api/v1/generate", json={{"mood": "chill", "seed": 1, "formats": []}})
    assert answer.status_code == 202 and answer.json()["state"] == "queued", answer.text
    assert client.get("/api/v1/ready").json()["checks"]["model"] == "ok"
print(sorted(m for m in ("torch", "transformers", "miditok") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_server_playing_the_radio_loads_no_torch(tmp_path):
    """With the radio on, the model composes in the producer's own process: the server's stays without
    torch while a track goes on air."""
    code = f"""
import sys, time
from fastapi.testclient import TestClient
from lofi.api import create_app
from lofi.settings import Settings

settings = Settings(home={str(tmp_path / "home")!r}, radio=True, radio_minutes=(0.25, 0.3))
with TestClient(create_app(settings, start_workers=False)) as client:
    deadline = time.monotonic() + 180
    while client.get("/api/v1/radio/now").json()["track"] is None:
        assert time.monotonic() < deadline, "no track on air"
        time.sleep(0.2)
print(sorted(m for m in ("torch", "transformers", "miditok", "onnxruntime") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
