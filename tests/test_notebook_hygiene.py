"""Each notebook was saved after a clean run and is fit to publish: nbval relies on all of this."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\(Users|Windows)\\)")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img[^>]*src=[\"']([^\"']+)")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def output_texts(cell: dict) -> list[str]:
    """The text a reader sees in a cell's outputs: streams, text/plain, text/html, tracebacks."""
    texts = []
    for output in cell["outputs"]:
        texts.append("".join(output.get("text", "")))
        for mime in ("text/plain", "text/html", "text/markdown"):
            texts.append("".join(output.get("data", {}).get(mime, "")))
        texts.extend(output.get("traceback", []))
    return texts


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_the_course_has_its_notebooks_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(len(names))]
    assert len(names) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_after_a_clean_run(path):
    nb = load(path)
    cells = code_cells(nb)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name}: run it top to bottom (scripts/run_notebooks.sh) before saving"
    )
    assert any(c["outputs"] for c in cells), f"{path.name} was saved without outputs"
    errors = [o for c in cells for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was saved with an error: {errors[0].get('ename')}"
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_widget_state_and_no_absolute_paths(path):
    nb = load(path)
    assert "widgets" not in nb["metadata"], f"{path.name} holds widget state in its metadata"
    for i, cell in enumerate(code_cells(nb)):
        text = "".join(output_texts(cell))
        match = ABSOLUTE_PATH.search(text)
        assert not match, f"{path.name}, code cell {i + 1}: an absolute path in its output ({match[0]}…)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_images_are_local_files_that_exist(path):
    nb = load(path)
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for match in IMAGE_LINK.finditer("".join(cell["source"])):
            link = match[1] or match[2]
            assert not link.startswith(("http:", "https:", "//")), f"{path.name}: remote image {link}"
            target = (path.parent / link).resolve()
            assert target.is_file(), f"{path.name} links {link}, which does not exist"
            assert target.parent == ROOT / "images", f"{path.name}: images live in images/, not {link}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_what_it_builds_and_the_lectures(path):
    first = load(path)["cells"][0]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown"
    assert "youtube.com/watch?v=kCc8FmEb1nY" in text, f"{path.name}: link Karpathy's lecture"
    assert "fEVyfT-gLqQ" in text, f"{path.name}: link Canziani's class"
