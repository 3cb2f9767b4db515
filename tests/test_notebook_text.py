"""What a reader of the committed notebooks sees before running anything (issue "Notebooks that teach"):
outputs from the full path, prose in cells of at most about 200 words, and the authors' released code
named wherever a cell compares with it."""
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
MAX_WORDS = 200
AUTHORS_CODE = re.compile(r"authors'\s+(released\s+)?code", re.I)


def prose_words(source: str) -> int:
    """Words a reader meets at once: text inside a collapsed <details> block does not count."""
    return len(re.sub(r"<details>.*?</details>", "", source, flags=re.S).split())


def test_prose_words_skips_collapsed_details():
    assert prose_words("one two <details><summary>x</summary>\nhidden words here\n</details> three") == 3


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_cells_are_short(path):
    nb = nbformat.read(str(path), as_version=4)
    long = [(i, prose_words(c.source)) for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown" and prose_words(c.source) > MAX_WORDS]
    assert not long, f"{path.name}: markdown cells over {MAX_WORDS} words (cell, words): {long}; split them " \
                     "or move the detail into a <details> block"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_come_from_the_full_path(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), f"{path.name} has unexecuted code cells"
    text = "\n".join(o.get("text", "") for c in code for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "smoke mode: False" in text, f"{path.name} does not print its mode"
    assert "smoke mode: True" not in text and "scale: smoke" not in text, \
        f"{path.name} was committed with smoke outputs: regenerate it with python notebooks/regenerate.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_authors_code_is_named_where_compared(path):
    nb = nbformat.read(str(path), as_version=4)
    unnamed = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
               and AUTHORS_CODE.search(c.source) and "ImgReID-IAnet" not in c.source]
    assert not unnamed, f"{path.name}: cells {unnamed} compare with the authors' code without naming it " \
                        "(blue-blue272/ImgReID-IAnet)"


#: The only functions a notebook cell may define: display, printing, a training callback, and thin
#: wrappers that call the package. A measurement, metric or model belongs in ``ianet_viz`` with a
#: test (a new name here needs a reason).
CELL_FUNCTIONS = {
    "01_sia_cia_derivation.ipynb": {"per_k", "print_per_k"},        # tabulates measures.* over K
    "03_training.ipynb": {"show_identities", "report", "retrieval"},  # picture, callback, evaluate()
    "04_receptive_fields.ipynb": {"show", "render_pair", "mean_lift"},  # JPEG display, test set, wrapper
    "06_ablations.ipynb": {"plot_tables", "print_tables"},           # display of summarise()
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_define_no_measurement_code(path):
    nb = nbformat.read(str(path), as_version=4)
    defined = {m.group(1) for c in nb.cells if c.cell_type == "code"
               for m in re.finditer(r"^\s*(?:def|class)\s+(\w+)", c.source, re.M)}
    extra = defined - CELL_FUNCTIONS.get(path.name, set())
    assert not extra, f"{path.name} defines {sorted(extra)} in its cells: move measurement, metric or model " \
                      "code into the package (with a test) and import it"
    stale = CELL_FUNCTIONS.get(path.name, set()) - defined
    assert not stale, f"CELL_FUNCTIONS lists {sorted(stale)} for {path.name}, which no longer defines them"
