"""The three layers import one way: app_pages -> presenters -> core. Read from the source (every
import statement, also those inside functions), so a lazy import cannot slip through."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# core: the engines, free of the app and of drawing; presenters: free of Streamlit and the pages
FORBIDDEN = {
    "core": (
        "streamlit",
        "streamlit_drawable_canvas",
        "plotly",
        "PIL.ImageDraw",
        "PIL.ImageFont",
        "presenters",
        "app_pages",
    ),
    "presenters": ("streamlit", "streamlit_drawable_canvas", "app_pages"),
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file; `from PIL import ImageDraw` counts as PIL.ImageDraw."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer):
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imports(path)
        if _breaks(module, FORBIDDEN[layer])
    ]
    assert wrong == []


def test_the_check_sees_every_kind_of_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import plotly.graph_objects as go\nfrom PIL import Image, ImageDraw\n"
        "def later():\n    from presenters.runs import run_label\n"
    )
    found = [module for _, module in imports(sample)]
    assert [m for m in found if _breaks(m, FORBIDDEN["core"])] == [
        "plotly.graph_objects",
        "PIL.ImageDraw",
        "presenters.runs",
        "presenters.runs.run_label",
    ]
