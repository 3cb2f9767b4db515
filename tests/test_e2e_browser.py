"""Browser end-to-end tests of the receptive-field viewer (pytest -m e2e).

JupyterLab (own process group, free localhost port, random token) + Python Playwright driving
Debian's Chromium (Playwright's own browser download does not work offline).

* **Live** (``test_click_on_pedestrian_updates_receptive_field``): opens
  notebooks/04_receptive_fields.ipynb, runs every cell in smoke mode and clicks a point on the
  pedestrian of the viewer, which the page draws (:mod:`ianet_viz.viz.field_widget`). It checks that
  the panel's pixels changed and that the label names the cell under the pointer, computed from the
  canvas geometry; then a drag and an arrow key, and asks the kernel what it selected. With
  ``IANET_E2E_COMPARE=1`` it adds a cell with the matplotlib viewer (ipympl) to the same page and
  times both (the figures in benchmarks/RESULTS.md).
* **Without a kernel** (``test_html_export_answers_clicks_offline``): exports the committed notebook
  with ``jupyter nbconvert --to html``, serves the file with a static file server, blocks every
  request that leaves it (no CDN), and clicks the saved viewer; also a player of a 256 x 128 model
  (stage 2: 32 x 16 cells).

Timings (printed and written to ``$IANET_ARTIFACTS/viewer_timing.json``, never asserted here; the
figures are in benchmarks/RESULTS.md, "viewer_browser"): from the browser's ``pointerdown`` to (a)
the first ``drawImage`` on a panel canvas after it (a hook in the page) and (b) the first animation
frame after that drawing, when the new pixels are on screen. Medians over a few clicks.

Screenshots go to ``$IANET_ARTIFACTS`` or ``tests/artifacts/`` (gitignored).

Chromium: ``/usr/bin/chromium`` (``apt-get install chromium``). When it is missing, the test tries
a bounded ``apt-get install -y chromium`` only when running as root with ``CI`` or
``IANET_E2E_INSTALL`` set; otherwise it skips with the reason.
"""
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "04_receptive_fields.ipynb"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
LABEL_RE = re.compile(r"cell \(row, col\) = \((\d+), (\d+)\) of (\d+)x(\d+) \| pixel \(y, x\) = \((\d+), (\d+)\) of (\d+)x(\d+)")
INSTALL_TIMEOUT_S = 600
# Waits, not budgets: each returns as soon as the page is ready. They are generous because under
# load (a 2-core machine with other CPU-bound jobs) JupyterLab, the kernel and Chromium share the
# cores, and starting the kernel plus running the notebook's cells takes several times as long.
LAB_START_S = 300  # JupyterLab answers on its port
PAGE_MS = 300_000  # page load, notebook panel, kernel idle, canvases, cells finished
VIEWER_MS = 600_000  # run-all-cells until the viewer is on the page (builds a model, one forward)
CLICK_MS = 180_000  # from the click to the new label / the redrawn panel

# Records, in the page, when the pointer went down (capture phase: before any viewer sees it), when
# each viewer canvas was drawn on (performance.now()), and the first animation frame after each drawing.
TIMING_HOOK = """
window.__ianet = {down: [], paints: [], frames: []};
document.addEventListener('pointerdown', () => window.__ianet.down.push(performance.now()), true);
const _drawImage = CanvasRenderingContext2D.prototype.drawImage;
CanvasRenderingContext2D.prototype.drawImage = function (...args) {
  const c = this.canvas;
  if (c && c.isConnected && c.closest) {
    const kind = c.closest('.ianet-front') ? 'front' : 'mpl';
    const where = c.closest('.ianet-panels') ? 'panels' : (c.closest('.ianet-image') ? 'image' : null);
    if (where) {
      const t = performance.now();
      window.__ianet.paints.push({t, where, kind});
      requestAnimationFrame(() => window.__ianet.frames.push({drawn: t, t: performance.now(), kind, where}));
    }
  }
  return _drawImage.apply(this, args);
};
"""
#: the two viewers on a page: the browser's (field_widget) and the matplotlib one (ipympl)
FRONT, MPL = ".ianet-viewer.ianet-front", ".ianet-viewer:not(.ianet-front)"
#: the cell the live test adds to time the matplotlib viewer beside the browser's, in the same kernel
MPL_CELL = ("%matplotlib widget\nmpl_viewer = ReceptiveFieldViewer(model, images, block=BLOCK, size=SIZE)\n"
            "mpl_viewer.show(frontend='matplotlib')")
TIMINGS = {}


def _artifacts() -> Path:
    d = Path(os.environ.get("IANET_ARTIFACTS", REPO / "tests" / "artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _chromium() -> str:
    """Path to Debian's Chromium, installing it (bounded) only where allowed; else skip loudly."""
    for cand in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if cand and os.path.exists(cand):
            return cand
    allowed = hasattr(os, "geteuid") and os.geteuid() == 0 and (os.environ.get("CI") or os.environ.get("IANET_E2E_INSTALL"))
    if allowed and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=INSTALL_TIMEOUT_S // 2, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, timeout=INSTALL_TIMEOUT_S,
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (subprocess.TimeoutExpired, OSError) as err:
            pytest.skip(f"E2E SKIPPED: installing Debian's chromium failed ({err}); run `apt-get install chromium`")
        path = shutil.which("chromium")
        if path:
            return path
    pytest.skip(
        "E2E SKIPPED: Debian's Chromium is not installed (/usr/bin/chromium). Install it with "
        "`apt-get install chromium` (or `make browser` as root, or set IANET_E2E_INSTALL=1 when running as root)."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab():
    """A JupyterLab server on notebooks/ (smoke mode, fresh settings), killed in finally."""
    pytest.importorskip("playwright.sync_api", reason="E2E SKIPPED: the `playwright` Python package is not installed")
    if not (REPO / "notebooks" / NOTEBOOK).exists():
        pytest.skip(f"E2E SKIPPED: notebooks/{NOTEBOOK} is missing")
    token = secrets.token_hex(16)
    tmp = Path(tempfile.mkdtemp(prefix="ianet-e2e-"))
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no news / update pop-ups, and no autosave: the notebook on disk must stay output-free
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    docmanager = tmp / "settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    nb_path = REPO / "notebooks" / NOTEBOOK
    original = nb_path.read_bytes()
    env = dict(
        os.environ,
        IANET_SMOKE="1",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        MPLBACKEND="",  # let %matplotlib widget choose
    )
    env.pop("MPLBACKEND")
    log = tmp / "lab.log"
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO / 'notebooks'}",
        "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",  # keep .ipynb_checkpoints out of the repo
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    # _free_port() closes its socket before JupyterLab binds the port, so another process may take
    # it in between: with port_retries=0 JupyterLab then exits (rather than silently moving to
    # another port), and the server is started again on a new port (at most 3 times)
    for attempt in range(3):
        port = _free_port()
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd + [f"--port={port}"], cwd=REPO / "notebooks", env=env, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", LAB_START_S, proc, log)
            break
        except RuntimeError:
            _stop(proc)
            if attempt == 2 or "already in use" not in log.read_text():
                _cleanup(log, tmp, nb_path, original)
                raise
    try:
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "log": log}
    finally:
        _stop(proc)
        _cleanup(log, tmp, nb_path, original)


def _stop(proc: subprocess.Popen) -> None:
    """Terminate JupyterLab's process group (SIGTERM, then SIGKILL after 20 s)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _cleanup(log: Path, tmp: Path, nb_path: Path, original: bytes) -> None:
    shutil.copy(log, _artifacts() / "jupyterlab.log")
    shutil.rmtree(tmp, ignore_errors=True)
    if nb_path.read_bytes() != original:  # a save slipped through: put the clean notebook back
        nb_path.write_bytes(original)


def _png_array(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _dismiss_dialogs(page) -> None:
    """Kernel selection ("Select") and any notification toast."""
    for name in ("Select", "Select Kernel"):
        btn = page.locator(".jp-Dialog").get_by_role("button", name=name)
        if btn.count():
            btn.first.click()
    no = page.locator(".jp-Notification-Toast").get_by_role("button", name=re.compile("^(No|Dismiss)$"))
    if no.count():
        no.first.click()


def _wait_stable(locator, timeout: float = 60.0) -> bytes:
    """Screenshot ``locator`` until two consecutive shots are equal (ipympl has finished drawing)."""
    deadline = time.monotonic() + timeout
    prev = locator.screenshot()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        cur = locator.screenshot()
        if cur == prev:
            return cur
        prev = cur
    return prev


@pytest.fixture(scope="module")
def chromium():
    pytest.importorskip("playwright.sync_api", reason="E2E SKIPPED: the `playwright` Python package is not installed")
    return _chromium()


def _open_notebook(page, lab, art: Path) -> None:
    """Open notebook 04, wait for its kernel, run every cell."""
    page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}?token={lab['token']}", timeout=PAGE_MS)
    page.wait_for_selector(".jp-NotebookPanel", timeout=PAGE_MS)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=PAGE_MS)
    deadline = time.monotonic() + PAGE_MS / 1000  # a kernel-selection dialog may come first
    while time.monotonic() < deadline:
        _dismiss_dialogs(page)
        status = page.evaluate(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return k ? k.status : 'none'; }")
        if status == "idle":
            break
        time.sleep(1)
    else:
        page.screenshot(path=str(art / "e2e_kernel_timeout.png"))
        pytest.fail(f"kernel did not become idle (status {status!r}); see {art / 'e2e_kernel_timeout.png'}")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def _kernel_idle(page) -> None:
    page.wait_for_function("() => { const w = window.jupyterapp.shell.currentWidget;"
                           " return w.sessionContext.session.kernel.status === 'idle'; }", timeout=PAGE_MS)


def _label(page, root: str) -> str:
    return page.locator(f"{root} .ianet-selected").first.text_content() or ""


def _wait_label(page, root: str, row: int, col: int, art: Path, what: str) -> str:
    try:
        page.wait_for_function(
            "([root, r, c]) => { const l = document.querySelector(root + ' .ianet-selected');"
            " return l && l.textContent.includes(`(row, col) = (${r}, ${c})`); }", arg=[root, row, col], timeout=CLICK_MS)
    except Exception:
        page.screenshot(path=str(art / f"e2e_{what}_failed.png"), full_page=True)
        raise AssertionError(f"label did not show ({row}, {col}) after the {what}: {_label(page, root)!r}")
    return _label(page, root)


def _check_click(page, root: str, photo, panel, art: Path, name: str) -> tuple:
    """Click the middle of a cell far from the selection: the label names it (and the pixel), the
    panel's pixels change. Returns the map's ``(h, w)``."""
    m = LABEL_RE.search(_label(page, root))
    assert m, f"unexpected label text {_label(page, root)!r}"
    g = [int(v) for v in m.groups()]
    h, w, img_h, img_w = g[2], g[3], g[6], g[7]
    before = _wait_stable(panel)
    (art / f"e2e_{name}_panel_before.png").write_bytes(before)
    row, col = (h - 2, 0) if (g[0], g[1]) != (h - 2, 0) else (1, w - 1)
    photo.scroll_into_view_if_needed()  # the panel's screenshot may have scrolled it away
    box = photo.bounding_box()
    fy, fx = (row + 0.5) / h, (col + 0.5) / w
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    after_label = _wait_label(page, root, row, col, art, f"{name}_click")
    m2 = LABEL_RE.search(after_label)
    assert m2 and (int(m2.group(1)), int(m2.group(2))) == (row, col), after_label
    # the pixel the viewer received is where we clicked, through the canvas geometry
    assert abs(int(m2.group(5)) - fy * img_h) <= 2 and abs(int(m2.group(6)) - fx * img_w) <= 2, after_label
    deadline = time.monotonic() + CLICK_MS / 1000
    after = panel.screenshot()
    while after == before and time.monotonic() < deadline:
        time.sleep(0.3)
        after = panel.screenshot()
    after = _wait_stable(panel)
    (art / f"e2e_{name}_panel_after.png").write_bytes(after)
    a, b = _png_array(before), _png_array(after)
    assert a.shape == b.shape, (a.shape, b.shape)
    changed = np.abs(a - b).max(-1) > 8
    print(f"e2e {name}: clicked cell ({row}, {col}) of {h}x{w}; {changed.mean():.1%} of the panel pixels changed")
    assert changed.mean() > 0.005, f"receptive-field panel did not change ({changed.mean():.3%} pixels)"
    return h, w


def _front_locators(page):
    photo = page.locator(f"{FRONT} .ianet-photo").first
    panel = page.locator(f"{FRONT} .ianet-panels canvas").last  # S, the field SIA uses
    photo.wait_for(state="visible", timeout=PAGE_MS)
    page.wait_for_function("(root) => { const l = document.querySelector(root + ' .ianet-selected');"
                           " return l && l.textContent.includes('cell (row, col)'); }", arg=FRONT, timeout=PAGE_MS)
    return photo, panel


def test_click_on_pedestrian_updates_receptive_field(chromium, lab):
    from playwright.sync_api import sync_playwright

    art = _artifacts()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100}, device_scale_factor=1)
            page.add_init_script(TIMING_HOOK)
            _open_notebook(page, lab, art)
            try:
                page.locator(FRONT).first.wait_for(state="visible", timeout=VIEWER_MS)
                photo, panel = _front_locators(page)
            except Exception:
                page.screenshot(path=str(art / "e2e_no_viewer.png"), full_page=True)
                raise
            _dismiss_dialogs(page)
            _kernel_idle(page)  # the later cells (select, still) must not race with the click
            page.locator(FRONT).first.scroll_into_view_if_needed()
            time.sleep(1.0)
            page.screenshot(path=str(art / "e2e_before.png"), full_page=True)
            h, w = _check_click(page, FRONT, photo, panel, art, "live")
            # a drag: the field follows the pointer; the arrow keys move one cell
            photo.scroll_into_view_if_needed()
            box = photo.bounding_box()
            page.mouse.move(box["x"] + 0.5 / w * box["width"], box["y"] + 1.5 / h * box["height"])
            page.mouse.down()
            page.mouse.move(box["x"] + (w - 0.5) / w * box["width"], box["y"] + 2.5 / h * box["height"], steps=4)
            page.mouse.up()
            _wait_label(page, FRONT, 2, w - 1, art, "drag")
            page.keyboard.press("ArrowLeft")
            _wait_label(page, FRONT, 2, w - 2, art, "arrow_key")
            TIMINGS["JupyterLab, browser front-end"] = _time_clicks(page, FRONT, photo, h, w, "front")
            page.locator(FRONT).first.screenshot(path=str(art / "e2e_viewer_front.png"))
            _kernel_idle(page)
            # the kernel knows the browser's selection: ask it
            _add_cell(page, "print('kernel sees', viewer.selected)")
            _kernel_idle(page)
            page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                                   ".some(e => e.textContent.includes('kernel sees'))", timeout=CLICK_MS)
            seen = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                                 ".map(e => e.textContent).filter(t => t.includes('kernel sees')).pop()")
            row, col = (int(v) for v in LABEL_RE.search(_label(page, FRONT)).groups()[:2])
            assert f"kernel sees ({row}, {col})" in seen, (seen, _label(page, FRONT))
            if os.environ.get("IANET_E2E_COMPARE"):  # the benchmark's run (RESULTS.md), not every `make test`
                _time_matplotlib_viewer(page, art, h, w)
            _write_timings(art)
        finally:
            browser.close()


def _time_matplotlib_viewer(page, art: Path, h: int, w: int) -> None:
    """The matplotlib viewer (ipympl) in a cell added to the same page and kernel: its round trip, timed
    beside the browser's front-end (set ``IANET_E2E_COMPARE=1``)."""
    # the matplotlib viewer (ipympl), same page, same kernel: today's round trip, for the record
    _add_cell(page, MPL_CELL)
    mpl_photo = page.locator(f"{MPL} .ianet-image .jupyter-matplotlib-canvas-div canvas").last
    mpl_panel = page.locator(f"{MPL} .ianet-panels .jupyter-matplotlib-canvas-div canvas").first
    mpl_photo.wait_for(state="visible", timeout=VIEWER_MS)
    mpl_panel.wait_for(state="visible", timeout=PAGE_MS)
    page.wait_for_function("(root) => { const l = document.querySelector(root + ' .ianet-selected');"
                           " return l && l.textContent.includes('cell (row, col)'); }", arg=MPL, timeout=PAGE_MS)
    _kernel_idle(page)
    time.sleep(1.0)
    _check_click(page, MPL, mpl_photo, mpl_panel, art, "ipympl")
    TIMINGS["JupyterLab, matplotlib (ipympl)"] = _time_clicks(page, MPL, mpl_photo, h, w, "mpl")


def _add_cell(page, source: str) -> None:
    """Append a code cell to the open notebook and run it."""
    page.evaluate("""async (src) => {
      const app = window.jupyterapp, nb = app.shell.currentWidget.content;
      nb.activeCellIndex = nb.widgets.length - 1;
      await app.commands.execute('notebook:insert-cell-below');
      nb.activeCell.model.sharedModel.setSource(src);
      await app.commands.execute('notebook:run-cell');
    }""", source)


def _time_clicks(page, root: str, photo, h: int, w: int, kind: str) -> dict:
    """Click-to-pixels for five clicks on distinct cells (see the module docstring): ms from
    pointerdown to the panel drawn and to the first frame after it, medians and all values."""
    photo.scroll_into_view_if_needed()
    box = photo.bounding_box()
    cells = [(1, 0), (h // 2, w - 1), (h - 1, w // 2), (h // 3, 1), (2 * h // 3, w - 2)]
    drawn, framed = [], []
    for row, col in cells:
        if f"(row, col) = ({row}, {col})" in _label(page, root):
            continue
        page.evaluate("() => { window.__ianet.down = []; window.__ianet.paints = []; window.__ianet.frames = []; }")
        page.mouse.click(box["x"] + (col + 0.5) / w * box["width"], box["y"] + (row + 0.5) / h * box["height"])
        try:
            page.wait_for_function(
                "([root, r, c, kind]) => { const l = document.querySelector(root + ' .ianet-selected');"
                " const t = window.__ianet; const d = t.down[0];"
                " return l && l.textContent.includes(`(row, col) = (${r}, ${c})`)"
                " && t.frames.some(f => f.kind === kind && f.where === 'panels' && f.drawn > d); }", arg=[root, row, col, kind], timeout=CLICK_MS)
        except Exception:
            print(f"e2e timing ({kind}): no panel paint within {CLICK_MS // 1000} s after a click on ({row}, {col})")
            continue
        page.wait_for_timeout(200)
        rec = page.evaluate("() => window.__ianet")
        down = rec["down"][0]
        paints = [p["t"] for p in rec["paints"] if p["where"] == "panels" and p["kind"] == kind and p["t"] > down]
        frames = [f["t"] for f in rec["frames"] if f["kind"] == kind and f["where"] == "panels" and f["drawn"] > down]
        drawn.append(min(paints) - down)
        framed.append(min(frames) - down)
    out = {"drawn_median_ms": float(np.median(drawn)), "frame_median_ms": float(np.median(framed)),
           "drawn_ms": [round(t, 1) for t in drawn], "frame_ms": [round(t, 1) for t in framed], "map": f"{h}x{w}"}
    print(f"e2e timing ({kind}): pointerdown -> panel drawn median {out['drawn_median_ms']:.1f} ms, -> next frame "
          f"{out['frame_median_ms']:.1f} ms over {len(drawn)} clicks on a {h}x{w} map {out['frame_ms']}")
    return out


def _write_timings(art: Path) -> None:
    path = art / "viewer_timing.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **TIMINGS}, indent=2))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """notebooks/04 as committed, exported to HTML (no execution), and a 256 x 128 player beside it."""
    out = tmp_path_factory.mktemp("export")
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(out),
                    str(REPO / "notebooks" / NOTEBOOK)], check=True, capture_output=True, timeout=300)
    import torch

    from ianet_viz import build_ianet
    from ianet_viz.viz import ReceptiveFieldViewer
    from ianet_viz.viz.field_widget import field_player_html

    torch.manual_seed(0)
    big = build_ianet("resnet18", num_classes=3, ia_stages=(2, 3)).eval()  # the paper's input: stage 2 is 32 x 16
    person = np.random.default_rng(0).integers(0, 255, (256, 128, 3), dtype=np.uint8)
    v = ReceptiveFieldViewer(big, [person], block="stage2", size=(256, 128), interactive=False)
    v.select(0, 100.0, 60.0)
    (out / "player_256x128.html").write_text(f"<!doctype html><html><body>{field_player_html(v, [0])}</body></html>")
    v.close()
    return out


def _static_server(folder: Path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    return proc, f"http://127.0.0.1:{port}"


def test_html_export_answers_clicks_offline(chromium, exported):
    """The exported notebook, served as a static file with every other request blocked: the saved
    viewer answers clicks with no kernel and no CDN; so does a 256 x 128 player."""
    from playwright.sync_api import sync_playwright

    art = _artifacts()
    server, url = _static_server(exported)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100}, device_scale_factor=1)
                page.add_init_script(TIMING_HOOK)
                blocked = []
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                           else (blocked.append(route.request.url), route.abort()))
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                for name, file in (("export", NOTEBOOK.replace(".ipynb", ".html")), ("256x128", "player_256x128.html")):
                    page.goto(f"{url}/{file}", timeout=PAGE_MS, wait_until="load")
                    photo, panel = _front_locators(page)
                    page.locator(FRONT).first.scroll_into_view_if_needed()
                    h, w = _check_click(page, FRONT, photo, panel, art, name)
                    TIMINGS[f"HTML export, no kernel ({name})"] = _time_clicks(page, FRONT, photo, h, w, "front")
                    page.locator(FRONT).first.screenshot(path=str(art / f"e2e_viewer_{name}.png"))
                assert not [e for e in errors if "ianet" in e or "render" in e], errors
                print(f"e2e export: {len(blocked)} requests to other hosts blocked (CDN scripts the viewer does not need)")
                _write_timings(art)
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
