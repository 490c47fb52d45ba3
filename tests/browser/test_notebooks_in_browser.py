"""Every notebook, opened in a real JupyterLab in headless Chromium (Playwright).

For each notebook: run all cells, wait until the kernel is idle and no cell is pending,
check that no cell holds an error, move one widget (the first slider of the notebook's
last widget area, then press its Run button if it has one) and check that the displayed
image or figure changed and that the widget's status line shows no error (an explorer
catches a failed update and writes it there). A screenshot per notebook is saved under
``report/screenshots/`` for a person to look at.

Runs on a copy of notebooks/ in a temporary folder (JupyterLab autosaves), with a fresh
settings folder and browser profile. Needs Debian's chromium at /usr/bin/chromium (the
Makefile installs it); never `playwright install`.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CHROMIUM = os.environ.get("MASSACT_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "report" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make browser-deps` (apt-get install chromium)")
    work = tmp_path_factory.mktemp("lab")
    nbdir = work / "notebooks"
    shutil.copytree(ROOT / "notebooks", nbdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"), JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    port, token = _free_port(), "massact-browser-test"
    cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nbdir}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    proc = subprocess.Popen(cmd, env=env, cwd=nbdir, stdout=open(work / "lab.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start:\n" + (work / "lab.log").read_text()[-3000:])
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "profile": work / "chromium-profile"}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser_context(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(lab["profile"]), executable_path=CHROMIUM, headless=True,
                                                   args=FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            yield ctx
        finally:
            ctx.close()


# JavaScript run in the page, through the JupyterLab app object (exposed by --LabApp.expose_app_in_browser)
JS_STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.content || !w.content.model) return null;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.model.cells;
  let pending = 0, errors = [], code = 0, executed = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i).toJSON();
    if (c.cell_type !== 'code') continue;
    code++;
    if (c.execution_count) executed++;
    for (const o of (c.outputs || [])) if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }
  document.querySelectorAll('.jp-InputPrompt').forEach(e => { if (e.textContent.includes('*')) pending++; });
  return {status: k ? k.status : 'none', pending, errors, code, executed};
}"""

JS_SIGNATURE = """() => {
  // a hash of what the widgets draw: image bytes and plotly SVGs (not the HTML panels, where an
  // explorer also writes its errors: a failed update must not count as a response)
  let parts = [];
  document.querySelectorAll('.jupyter-widgets img').forEach(i => parts.push(i.src));
  document.querySelectorAll('.jupyter-widgets .js-plotly-plot .main-svg').forEach(p => parts.push(p.innerHTML));
  const s = parts.join('|');
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return s.length + ':' + h;
}"""


def _wait_idle(page, timeout_s: float, started_after: float = 0) -> dict:
    deadline = time.time() + timeout_s
    state, idle_since = None, None
    while time.time() < deadline:
        state = page.evaluate(JS_STATE)
        done = state and state["status"] == "idle" and state["pending"] == 0 and state["executed"] == state["code"]
        if done:
            idle_since = idle_since or time.time()
            if time.time() - idle_since > 3:  # idle and stable for 3 s
                return state
        else:
            idle_since = None
        if int(time.time()) % 30 == 0:
            print("  waiting:", state, flush=True)
        time.sleep(1)
    raise AssertionError(f"notebook did not finish within {timeout_s} s; last state {state}")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_widget_responds(notebook, lab, browser_context):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_context.new_page()
    t0 = time.time()
    try:
        # a workspace of its own (reset), so JupyterLab does not reopen the previous notebooks
        page.goto(f"{lab['url']}/lab/workspaces/ws-{notebook.stem}/tree/{notebook.name}?reset&token={lab['token']}",
                  wait_until="domcontentloaded")
        page.wait_for_function("(name) => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.context "
                               "&& window.jupyterapp.shell.currentWidget.context.path === name "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext.session "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                               arg=notebook.name, timeout=120_000)
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                               timeout=120_000)
        # do not await "run all" on a cold kernel: fire it, then poll for idle
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        state = _wait_idle(page, RUN_TIMEOUT_S)
        run_s = time.time() - t0
        assert not state["errors"], f"{notebook.name}: cells raised {state['errors']}"
        # the last output holding a slider: move its first slider one notch, press its Run button
        boxes = page.locator(".jp-OutputArea-output:has(.noUi-handle)")
        assert boxes.count() > 0, f"{notebook.name}: no widget rendered"
        box = boxes.last
        box.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        before = page.evaluate(JS_SIGNATURE)
        slider = box.locator(".noUi-handle").first
        readout = box.locator(".widget-readout").first
        run = box.locator("button.jupyter-button", has_text="Run")
        after = before
        # one notch down; if the slider sat at its minimum (its readout did not move), two notches up
        for keys in (["ArrowLeft"], ["ArrowRight", "ArrowRight"]):
            value_before = readout.inner_text()
            slider.focus()
            for k in keys:
                slider.press(k)
            page.wait_for_timeout(500)
            if readout.inner_text() == value_before:
                continue  # the slider was at that end: try the other direction
            if run.count() > 0:
                run.first.click()
            deadline = time.time() + 300
            while time.time() < deadline and after == before:
                page.wait_for_timeout(1000)
                after = page.evaluate(JS_SIGNATURE)
            break
        page.screenshot(path=str(SHOTS / f"{notebook.stem}.png"), full_page=False)
        # an explorer reports a failed update in its status line ("error: ...") and keeps its button
        errors = [t for t in box.locator(".widget-label").all_inner_texts() if t.strip().startswith("error:")]
        assert not errors, f"{notebook.name}: the widget shows an error: {errors}"
        assert after != before, f"{notebook.name}: moving a widget did not change the displayed image/figure"
        state = _wait_idle(page, 300)
        assert not state["errors"], f"{notebook.name}: widget update raised {state['errors']}"
        print(f"{notebook.name}: ran in the browser in {run_s:.0f} s; widget responded")
    finally:
        page.close()
