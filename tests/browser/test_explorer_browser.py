"""Notebook 08 in a real browser: JupyterLab from this environment, headless Chromium driven by
Playwright, the whole notebook run on the ci preset, the explorer's widgets rendered, another
user chosen, the recommendations changed, a screenshot kept as ``build/explorer.png``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``$CHROMIUM`` names another binary)
and ``playwright`` for Python; no browser is downloaded. Skipped with the reason when either is
missing. ``make browser-test`` installs both and runs it.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from digr_utils.config import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "08_explore_and_explain.ipynb"
SCREENSHOT = REPO_ROOT / "build" / "explorer.png"
RUN_TIMEOUT_S = 600  # the whole notebook on ci, on a busy 2-core machine

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not "
                                     "installed (pip install playwright; make browser-test)")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install -y "
                                "chromium, or set $CHROMIUM); no browser is downloaded")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"JupyterLab exited with code {server.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer {url} within {timeout} s")


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free local port with a token, serving a copy of notebook 08 on ci."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    # no news pop-up over the page; every cell kept in the page (no windowing), so the
    # explorer's text is there to read whether or not it is scrolled into view
    for plugin, values in (("apputils-extension/notification", {"fetchNews": "false"}),
                           ("notebook-extension/tracker", {"windowingMode": "none"})):
        path = tmp_path / "lab-settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token, port, log = secrets.token_hex(16), _free_port(), tmp_path / "lab.log"
    env = {**os.environ, "DIGR_PRESET": "ci", "OMP_NUM_THREADS": "1",
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings")}
    env.pop("DIGR_STATIC", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.terminals_enabled=False", "--LabApp.expose_app_in_browser=True",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/status?token={token}", server, log)
        yield {"url": f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", "folder": tmp_path}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


NOTEBOOK_JS = "window.jupyterapp?.shell?.currentWidget"  # undefined until the app has started
KERNEL_UP_JS = f"() => !!{NOTEBOOK_JS}?.sessionContext?.session?.kernel"
ALL_RAN_JS = f"""() => {{
  const panel = {NOTEBOOK_JS};
  if (!panel?.content || !panel.sessionContext?.session?.kernel) return false;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  return panel.sessionContext.session.kernel.status === 'idle' &&
         cells.every(c => c.model.executionCount !== null);
}}"""


def _recommendations(page) -> str:
    return page.text_content(".digr-recs")


def test_explorer_renders_and_follows_the_chosen_user(lab):
    start = time.monotonic()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 2300})
        page.goto(lab["url"])
        page.wait_for_function(KERNEL_UP_JS, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".digr-recs table", timeout=RUN_TIMEOUT_S * 1000)
        assert page.locator(".digr-explorer .widget-dropdown select").count() == 2  # source, model
        assert page.locator(".digr-history table").count() == 1
        before = _recommendations(page)
        assert "DeepInterestGR" in before and "popularity" in before

        page.wait_for_function(ALL_RAN_JS, timeout=RUN_TIMEOUT_S * 1000)
        user = page.locator(".digr-user input")
        user.fill("7")
        user.press("Enter")
        page.wait_for_function("(before) => document.querySelector('.digr-recs').textContent !== before",
                               arg=before, timeout=120_000)
        assert _recommendations(page) != before
        page.click(".digr-reveal")
        page.wait_for_selector(".digr-motives table", timeout=60_000)
        assert "hidden motives" in page.text_content(".digr-history")

        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".digr-explorer").evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(SCREENSHOT))
        time.sleep(2)  # let the save land before the server stops
        browser.close()
    ran = nbformat.read(lab["folder"] / NOTEBOOK.name, as_version=4)
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"cells raised: {[(e.ename, e.evalue) for e in errors]}"
    print(f"browser test: {time.monotonic() - start:.0f} s, screenshot {SCREENSHOT}")
