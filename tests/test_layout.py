"""The package's layout: imports run one way, no module is too long, no repository folder is read."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ianet_viz"

#: Layers, lowest first: a module may import its own layer and the layers below it.
LAYERS = [
    {"basics", "options", "functional", "kernels", "imagenet", "modules", "model", "recorder", "cost", "metrics", "match_ranks", "distances",
     "rerank", "measures", "reference", "settings", "__init__"},
    {"reid", "synthetic"},
    {"train"},
    {"viz"},
    {"course"},
]


def _layer(part: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if part in names)


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        yield path, rel.parts[0].removesuffix(".py")


def _imports(path: Path):
    """Top-level package parts imported by ``path`` (relative and absolute imports of ianet_viz)."""
    rel = path.relative_to(PKG)
    here = list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from . import x" at the top: x are modules
                    target = [alias.name for alias in node.names]
                    yield from target
                    continue
                yield target[0]
            elif node.module and node.module.split(".")[0] == "ianet_viz":
                parts = node.module.split(".")
                yield parts[1] if len(parts) > 1 else "__init__"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ianet_viz" and len(parts) > 1:
                    yield parts[1]


def test_imports_run_one_way():
    wrong = []
    for path, part in _modules():
        if part == "__init__":
            continue  # the package's front door re-exports the core only (checked below)
        for target in _imports(path):
            if target in ("__init__",) or target == part:
                continue
            if _layer(target) > _layer(part):
                wrong.append(f"{path.relative_to(PKG)} imports {target}")
    front = set(_imports(PKG / "__init__.py"))
    assert front <= LAYERS[0], front
    assert not wrong, wrong


def test_no_module_is_over_about_500_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 550}
    assert not long, long


def test_the_package_reads_no_repository_folder():
    """Folders come from ianet_viz.settings (DATA_DIR, RUNS_DIR, RESULTS_DIR); nothing walks up from a module."""
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        assert "REPO_DIR" not in text and ".parents[" not in text, path
        if path.name != "settings.py":
            assert '"benchmarks"' not in text, path  # the committed results: settings.RESULTS_DIR


def _module_graph():
    """``{module: modules of ianet_viz it imports}``, with imports inside functions, by dotted name (an
    import of a package's ``__init__`` from inside that package is not an edge: it is where it lives)."""
    mods = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                deps.update(t for t in [target] + [f"{target}.{a.name}" for a in node.names] if t in mods)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
        graph[name] = {d for d in deps if d != name and not name.startswith(d + ".")}
    return graph


def test_the_import_graph_has_no_circle():
    graph = _module_graph()
    state, circles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, circles
    assert "ianet_viz.basics" in graph["ianet_viz.kernels"]  # the checker sees imports inside functions too


def test_no_name_or_comment_in_the_package_carries_a_date():
    """History belongs in git and RESULTS.md: no dated name (LEVERS_2026_11) or 'before 2026-12' in the code."""
    import re

    dated = re.compile(r"\b20[2-9]\d[-_](0[1-9]|1[0-2])\b|(January|February|March|April|May|June|July|August|"
                       r"September|October|November|December) 20[2-9]\d")
    found = [f"{p.relative_to(PKG)}:{i}" for p in PKG.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if dated.search(line)]
    assert not found, found


def test_no_function_is_over_80_lines_unless_it_says_why():
    """A long function is a place to get lost: over 80 lines, its docstring says why it is one piece."""
    long = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                if "One piece:" not in (ast.get_docstring(node) or ""):
                    long.append(f"{path.relative_to(PKG)}:{node.name}")
    assert not long, long


def test_the_block_options_travel_by_name():
    """SIA's and CIA's options are passed as one IAOptions or by name, never by position: a call of
    sia / SIA / IABlock / build_ianet passes at most its tensor or size and the options object by position."""
    most = {"sia": 2, "_sia_op": 4, "SIA": 2, "IABlock": 2, "build_ianet": 5}
    wrong = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in most and len(node.args) > most[name]:
                    wrong.append(f"{path.relative_to(PKG)}:{node.lineno} {name}")
    assert not wrong, wrong
