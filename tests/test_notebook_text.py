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
    "03_training.ipynb": {"show_identities", "report", "retrieval"},  # picture, callback, evaluate()
    "04_receptive_fields.ipynb": {"show", "render_pair", "mean_lift"},  # JPEG display, test set, wrapper
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


# ------------------------------------------------------------------------------ widget state
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _shown_and_reachable(nb, models):
    """Widget ids displayed by the outputs, and every id they refer to ("IPY_MODEL_<id>")."""
    shown = {o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})}
    seen, todo = set(), [m for m in shown if m in models]
    while todo:
        mid = todo.pop()
        if mid not in seen:
            seen.add(mid)
            todo += [r for r in re.findall(r"IPY_MODEL_([0-9a-f]+)", str(models[mid].get("state", {}))) if r in models]
    return shown, seen


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_state_of_closed_figures(path):
    """A committed notebook keeps the widget models of the widgets its outputs still show (the live
    viewer and its parts), and nothing else: no canvas of a figure that was closed, no orphan model.
    ``python notebooks/regenerate.py`` (or ``--strip-widgets``) writes them that way."""
    nb = nbformat.read(str(path), as_version=4)
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    shown, live = _shown_and_reachable(nb, models)
    stale = {mid: models[mid].get("model_name") for mid in set(models) - live}
    assert not stale, f"{path.name} carries {len(stale)} widget models no output shows (closed figures' " \
                      f"canvases among them): {sorted(set(stale.values()))}; run python notebooks/regenerate.py " \
                      f"--strip-widgets {path.relative_to(path.parent.parent)}"
    missing = shown - set(models)
    assert not missing, f"{path.name} displays widgets whose state it does not carry: {sorted(missing)}"


def _load_regenerate():
    import importlib.util

    spec = importlib.util.spec_from_file_location("regenerate", NOTEBOOKS[0].parent / "regenerate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_regenerate_drops_closed_and_orphan_widgets():
    regen = _load_regenerate()
    nb = nbformat.v4.new_notebook()
    view = lambda mid: nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": mid}, "text/plain": "w"})
    nb.cells = [nbformat.v4.new_code_cell("viewer", outputs=[view("a1")]),
                nbformat.v4.new_code_cell("closed figure", outputs=[view("c1")])]
    state = {"a1": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_b1"]}},
             "b1": {"model_name": "MPLCanvasModel", "state": {"layout": "IPY_MODEL_b2"}},
             "b2": {"model_name": "LayoutModel", "state": {}},
             "c1": {"model_name": "MPLCanvasModel", "state": {}},  # shown, but closed during the run
             "d1": {"model_name": "MPLCanvasModel", "state": {}}}  # a closed figure no output shows
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    kept, dropped = regen.clean_widget_state(nb, closed={"c1"})
    assert (kept, dropped) == (3, 2)
    assert set(nb.metadata["widgets"][WIDGET_STATE]["state"]) == {"a1", "b1", "b2"}
    assert WIDGET_VIEW not in nb.cells[1].outputs[0]["data"] and nb.cells[1].outputs[0]["data"]["text/plain"] == "w"
    nb.cells = nb.cells[1:]  # nothing live left: no widget metadata at all
    regen.clean_widget_state(nb)
    assert "widgets" not in nb.metadata


# ------------------------------------------------------------------------------ numbers in the prose
#: Decimal numbers in markdown with at least 3 significant digits must be printed by an output of the
#: same notebook (equal after rounding to the markdown's decimals, or as a percentage of a printed
#: fraction). Numbers that no output prints, with the reason:
PAPER_NUMBERS = {
    "94.4", "83.1",  # the paper: IANet on Market-1501, top-1 / mAP (ianet_viz.course.paper)
    "90.4", "76.2",  # the paper: its ResNet-50 baseline (ianet_viz.course.paper)
    "4.06", "4.09",  # the paper's cost claim (GMac), Sec. 4
    "0.73",  # the paper's cost claim as a ratio, +0.73 % (../shared/PAPER_NUMBERS.md, Sec. 4.3)
}
NUMBER_ALLOW = {
    "01_sia_cia_derivation.ipynb": {"2.72"},  # e, the bound of a softmax over [0, 1]
    "02_ianet_architecture.ipynb": {"4.094"},  # 4.06 + 0.034: the paper's total plus the printed SIA cost
}
DECIMAL = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.]*\d)")


def significant_digits(number: str) -> int:
    return len(number.replace(".", "").lstrip("0"))


def _printed(cells, keys=("text/plain", "text/markdown")) -> set:
    """Every number that the outputs of ``cells`` print (streams and the ``keys`` representations)."""
    texts = []
    for c in cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                texts.append(o.get("text", ""))
            for key in keys:
                v = o.get("data", {}).get(key)
                if v is not None:
                    texts.append(v if isinstance(v, str) else "".join(v))
    return {float(s) for s in re.findall(r"\d+\.\d+|\d+", "\n".join(texts))}


def _unmatched(prose: str, printed: set, allow, min_digits: int):
    """The decimals of ``prose`` (``min_digits`` significant digits and up) that no printed number gives,
    rounded to the prose's decimals or as a percentage of a printed fraction."""
    out = []
    for number in DECIMAL.findall(prose):
        if significant_digits(number) < min_digits or number in allow:
            continue
        d, x = len(number.split(".")[1]), float(number)
        if not any(abs(round(v, d) - x) < 1e-9 or abs(round(100 * v, d) - x) < 1e-9 for v in printed):
            out.append(number)
    return out


def output_numbers(nb) -> set:
    return _printed([c for c in nb.cells if c.cell_type == "code"], ("text/plain", "text/html", "text/markdown"))


def unprinted_numbers(nb, allow=frozenset()):
    """``[(cell, number)]``: decimals of 3+ significant digits in markdown that no output prints."""
    printed = output_numbers(nb)
    return [(i, n) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
            for n in _unmatched(re.sub(r"```.*?```", "", c.source, flags=re.S), printed, allow, 3)]


def test_unprinted_numbers_catches_a_mismatch():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("mAP 52.5 %, self-weight 0.234, entropy 0.91, sigma 2.5"),
                nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", text="mAP 0.5249 self 0.2338\n")])]
    assert unprinted_numbers(nb) == []  # 52.5 = 100 x 0.5249 rounded; 0.234 = 0.2338 rounded; 2-digit ones skipped
    nb.cells[0].source = "mAP 52.7 %, self-weight 0.243"
    assert unprinted_numbers(nb) == [(0, "52.7"), (0, "0.243")]
    assert unprinted_numbers(nb, allow={"52.7"}) == [(0, "0.243")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_numbers_come_from_the_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    missing = unprinted_numbers(nb, PAPER_NUMBERS | NUMBER_ALLOW.get(path.name, set()))
    assert not missing, f"{path.name}: numbers in markdown that no output of the notebook prints (cell, number): " \
                        f"{missing}; rerun the notebook and update the prose, or add a paper number with its source"


# A number in prose describes the cell beside it: the code cells right before its run of markdown cells,
# or right after it. Checked from 2 significant digits (0.72, 1.5x), outside inline code (settings and
# formulas: `sigma=(2.5, 5)`) and outside references (Sec. 3.2, Tab. 4).
REFERENCE = re.compile(r"\b(?:Sec|Tab|Fig|eq)\.\s*\d+(?:\.\d+)?")


def _prose(source: str) -> str:
    source = re.sub(r"```.*?```", "", source, flags=re.S)
    return REFERENCE.sub("", re.sub(r"`[^`]*`", "", source))


def _beside(cells, i: int) -> list:
    """The code cells right before the run of markdown cells that holds cell ``i``, and right after it."""
    kinds = [c.cell_type for c in cells]
    first, last = i, i
    while first > 0 and kinds[first - 1] == "markdown":
        first -= 1
    while last + 1 < len(cells) and kinds[last + 1] == "markdown":
        last += 1
    out, k = [], first - 1
    while k >= 0 and kinds[k] == "code":
        out.append(cells[k])
        k -= 1
    k = last + 1
    while k < len(cells) and kinds[k] == "code":
        out.append(cells[k])
        k += 1
    return out


def unquoted_numbers(nb, allow=frozenset(), min_digits: int = 2):
    """``[(cell, number)]``: decimals in a markdown cell's prose that the code cells beside it do not print."""
    return [(i, n) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
            for n in _unmatched(_prose(c.source), _printed(_beside(nb.cells, i)), allow, min_digits)]


def test_unquoted_numbers_ties_prose_to_the_cell_beside_it():
    new = nbformat.v4
    out = new.new_output("stream", text="self 0.72, lift 1.55\n")
    nb = new.new_notebook()
    nb.cells = [new.new_code_cell("x", outputs=[out]), new.new_markdown_cell("intro"),
                new.new_markdown_cell("self-weight 0.72, lift 1.55x (Sec. 3.2), `sigma=(2.5, 5)`")]
    assert unquoted_numbers(nb) == []  # beside its cell; a reference and inline code are not quotes
    nb.cells[2].source = "self-weight 0.61 and lift 1.5x"
    assert unquoted_numbers(nb) == [(2, "0.61"), (2, "1.5")]  # 1.5 is not 1.55 rounded to one decimal: 1.6
    # printed elsewhere in the notebook is not enough: a cell in between breaks the tie
    nb.cells = [new.new_code_cell("x", outputs=[out]), new.new_markdown_cell("next section"),
                new.new_code_cell("y", outputs=[new.new_output("stream", text="other 3\n")]),
                new.new_markdown_cell("self-weight 0.72")]
    assert unquoted_numbers(nb) == [(3, "0.72")] and unprinted_numbers(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_numbers_are_printed_by_the_cells_beside_them(path):
    nb = nbformat.read(str(path), as_version=4)
    missing = unquoted_numbers(nb, PAPER_NUMBERS | NUMBER_ALLOW.get(path.name, set()))
    assert not missing, f"{path.name}: numbers in markdown that the code cells beside it do not print (cell, number): " \
                        f"{missing}; print them in the cell that measures them and put the prose right after it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_short(path):
    """A code cell a student reads in one glance: at most 15 lines; longer work belongs in the package."""
    nb = nbformat.read(str(path), as_version=4)
    long = [(i, n) for i, c in enumerate(nb.cells) if c.cell_type == "code" and (n := len(c.source.splitlines())) > 15]
    assert not long, f"{path.name}: code cells over 15 lines (cell, lines): {long}; split them or move code into the package"


def test_the_readme_quotes_numbers_that_results_md_records():
    """One measurement, one value: every decimal in the README's prose is one that benchmarks/RESULTS.md
    records (with the command and machine that produced it)."""
    root = NOTEBOOKS[0].parent.parent
    results = (root / "benchmarks" / "RESULTS.md").read_text()
    prose = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", (root / "README.md").read_text(), flags=re.S))
    missing = [n for n in DECIMAL.findall(prose) if n not in results]
    assert not missing, f"README numbers that RESULTS.md does not record: {missing}"


def test_notebook_04_keeps_a_kernel_free_viewer_within_its_budget():
    """The saved viewer answers clicks without a kernel (its player, not widget state), and the file stays
    under 4 MB with it."""
    path = next(p for p in NOTEBOOKS if p.name.startswith("04_"))
    assert path.stat().st_size < 4 * 2**20, f"{path.name} is {path.stat().st_size / 2**20:.1f} MB"
    nb = nbformat.read(str(path), as_version=4)
    players = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "data-ianet-player" in str(o.get("data", {}).get("text/html", ""))]
    assert len(players) == 1 and WIDGET_VIEW not in players[0]["data"]
    assert len(str(players[0]["data"]["text/html"])) < 1 * 2**20  # four images
