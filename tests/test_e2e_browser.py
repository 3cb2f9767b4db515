"""Browser end-to-end test of the receptive-field viewer (pytest -m e2e).

JupyterLab (own process group, free localhost port, random token) + Python Playwright driving
Debian's Chromium (Playwright's own browser download does not work offline). The test opens
notebooks/04_receptive_fields.ipynb, runs every cell in smoke mode, clicks a point on the
pedestrian (an ipympl canvas) and checks that

* the receptive-field panel's pixels changed, and
* the selected (row, col) the widget shows is the cell under the click, computed from the
  canvas geometry (the image axes fill the image figure: canvas fraction = image fraction).

It also times click-to-pixels in the real browser (printed, never asserted): from the browser's
``mousedown`` to the moment ipympl paints the new frame on the panel canvas (a hook on
``drawImage``), i.e. kernel round trip + ``select`` + PNG + decode + paint, median over a few clicks.

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

# Records, in the page, when the mouse went down and when each canvas was painted (performance.now()).
TIMING_HOOK = """
window.__ianet = {down: [], paints: []};
document.addEventListener('mousedown', () => window.__ianet.down.push(performance.now()), true);
const _drawImage = CanvasRenderingContext2D.prototype.drawImage;
CanvasRenderingContext2D.prototype.drawImage = function (...args) {
  const c = this.canvas;
  if (c && c.isConnected && c.closest) {
    const where = c.closest('.ianet-panels') ? 'panels' : (c.closest('.ianet-image') ? 'image' : null);
    if (where) window.__ianet.paints.push({t: performance.now(), where});
  }
  return _drawImage.apply(this, args);
};
"""


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


def test_click_on_pedestrian_updates_receptive_field(chromium, lab):
    from playwright.sync_api import sync_playwright

    art = _artifacts()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100}, device_scale_factor=1)
            page.add_init_script(TIMING_HOOK)
            page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}?token={lab['token']}", timeout=PAGE_MS)
            page.wait_for_selector(".jp-NotebookPanel", timeout=PAGE_MS)
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=PAGE_MS)
            # wait for the kernel (a kernel-selection dialog may come first)
            deadline = time.monotonic() + PAGE_MS / 1000
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
            viewer = page.locator(".ianet-viewer")
            try:
                viewer.wait_for(state="visible", timeout=VIEWER_MS)
                image_canvas = page.locator(".ianet-viewer .ianet-image .jupyter-matplotlib-canvas-div canvas").last
                panel_canvas = page.locator(".ianet-viewer .ianet-panels .jupyter-matplotlib-canvas-div canvas").first
                image_canvas.wait_for(state="visible", timeout=PAGE_MS)
                panel_canvas.wait_for(state="visible", timeout=PAGE_MS)
                label = page.locator(".ianet-viewer .ianet-selected")
                page.wait_for_function(
                    "() => { const l = document.querySelector('.ianet-viewer .ianet-selected');"
                    " return l && l.textContent.includes('cell (row, col)'); }", timeout=PAGE_MS)
            except Exception:
                page.screenshot(path=str(art / "e2e_no_viewer.png"), full_page=True)
                raise
            _dismiss_dialogs(page)
            viewer.scroll_into_view_if_needed()
            # let the later cells (select + benchmark) finish so they do not race with the click
            page.wait_for_function(
                "() => { const w = window.jupyterapp.shell.currentWidget;"
                " return w.sessionContext.session.kernel.status === 'idle'; }", timeout=PAGE_MS)
            time.sleep(1.0)
            before_label = label.text_content()
            m = LABEL_RE.search(before_label)
            assert m, f"unexpected label text {before_label!r}"
            g = [int(v) for v in m.groups()]
            h, w, img_h, img_w = g[2], g[3], g[6], g[7]
            before = _wait_stable(panel_canvas)
            (art / "e2e_panel_before.png").write_bytes(before)
            page.screenshot(path=str(art / "e2e_before.png"), full_page=True)

            # click the middle of a cell far from the current selection (lower legs, left of centre)
            row0, col0 = int(m.group(1)), int(m.group(2))
            row, col = (h - 2, 0) if (row0, col0) != (h - 2, 0) else (1, w - 1)
            box = image_canvas.bounding_box()
            fy, fx = (row + 0.5) / h, (col + 0.5) / w
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            try:
                page.wait_for_function(
                    "([r, c]) => { const l = document.querySelector('.ianet-viewer .ianet-selected');"
                    " return l && l.textContent.includes(`(row, col) = (${r}, ${c})`); }",
                    arg=[row, col], timeout=CLICK_MS)
            except Exception:
                page.screenshot(path=str(art / "e2e_click_failed.png"), full_page=True)
                raise AssertionError(f"label did not show ({row}, {col}) after the click: {label.text_content()!r}")
            after_label = label.text_content()
            m2 = LABEL_RE.search(after_label)
            assert m2 and (int(m2.group(1)), int(m2.group(2))) == (row, col), after_label
            # the pixel the kernel received is where we clicked, through the figure geometry
            assert abs(int(m2.group(5)) - fy * img_h) <= 2 and abs(int(m2.group(6)) - fx * img_w) <= 2, after_label

            # the panel redraws asynchronously: wait until its pixels change, then until they settle
            deadline = time.monotonic() + CLICK_MS / 1000
            after = panel_canvas.screenshot()
            while after == before and time.monotonic() < deadline:
                time.sleep(0.5)
                after = panel_canvas.screenshot()
            after = _wait_stable(panel_canvas)
            (art / "e2e_panel_after.png").write_bytes(after)
            page.screenshot(path=str(art / "e2e_after.png"), full_page=True)
            a, b = _png_array(before), _png_array(after)
            assert a.shape == b.shape, (a.shape, b.shape)
            changed = np.abs(a - b).max(-1) > 8
            print(f"e2e: clicked cell ({row}, {col}) of {h}x{w}; label {after_label!r}; "
                  f"{changed.mean():.1%} of the panel pixels changed")
            assert changed.mean() > 0.005, f"receptive-field panel did not change ({changed.mean():.3%} pixels)"
            _time_clicks(page, image_canvas, label, h, w)
            # for the record (not asserted): the viewer in the light and the dark theme
            viewer.screenshot(path=str(art / "e2e_viewer_light.png"))
            page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
            time.sleep(3)
            viewer.screenshot(path=str(art / "e2e_viewer_dark.png"))
        finally:
            browser.close()


def _time_clicks(page, image_canvas, label, h: int, w: int) -> None:
    """Click-to-pixels in the browser, for the record (printed, not asserted): mousedown -> the
    first paint of the panel canvas after it (see TIMING_HOOK), for five clicks on distinct cells."""
    box = image_canvas.bounding_box()
    cells = [(r, c) for r, c in ((1, 0), (h // 2, w - 1), (h - 1, w // 2), (h // 3, 1), (2 * h // 3, w - 2))]
    panel_ms, image_ms = [], []
    for row, col in cells:
        if f"(row, col) = ({row}, {col})" in (label.text_content() or ""):
            continue
        page.evaluate("() => { window.__ianet.down = []; window.__ianet.paints = []; }")
        page.mouse.click(box["x"] + (col + 0.5) / w * box["width"], box["y"] + (row + 0.5) / h * box["height"])
        try:
            page.wait_for_function(
                "([r, c]) => { const l = document.querySelector('.ianet-viewer .ianet-selected');"
                " const t = window.__ianet; const d = t.down[t.down.length - 1];"
                " return l && l.textContent.includes(`(row, col) = (${r}, ${c})`)"
                " && t.paints.some(p => p.where === 'panels' && p.t > d); }", arg=[row, col], timeout=CLICK_MS)
        except Exception:
            print(f"e2e timing: no panel paint within {CLICK_MS // 1000} s after a click on cell ({row}, {col})")
            continue
        page.wait_for_timeout(300)  # let a second frame (if any) arrive before reading the record
        rec = page.evaluate("() => window.__ianet")
        down = rec["down"][-1]
        first = {where: min((p["t"] for p in rec["paints"] if p["where"] == where and p["t"] > down), default=None)
                 for where in ("panels", "image")}
        panel_ms.append(first["panels"] - down)
        if first["image"] is not None:
            image_ms.append(first["image"] - down)
    if panel_ms:
        image = f"; pedestrian canvas median {np.median(image_ms):.0f} ms" if image_ms else ""
        print(f"e2e timing: click-to-pixels (mousedown -> panel canvas painted) median {np.median(panel_ms):.0f} ms "
              f"over {len(panel_ms)} clicks {[round(t) for t in panel_ms]}{image}")

