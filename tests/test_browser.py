"""The attention explorer and the next-token view in a real browser: JupyterLab, headless Chromium,
the keyboard.

Runs a copy of notebooks/07_attention_explorer.ipynb in a temporary folder (autosave never touches
the real one), moves the explorer's head and query sliders with the keyboard, and checks that the
picture and its title follow; then types a prompt of its own and knocks the chosen head out, and
checks that the model reran (the next-token bars and their title). A copy of
notebooks/10_inside_one_prediction.ipynb gets a typed prompt in its next-token view, a temperature
slider moved by a key, and a click on "next". Screenshots go to
test-artifacts/ (gitignored). With ATTENTION_PLAYGROUND_UPDATE_IMAGES=1 the explorer's screenshot
also replaces images/explorer.png. It skips without Chromium or playwright, unless
ATTENTION_PLAYGROUND_REQUIRE_BROWSER=1 (CI) says fail.

    pytest -m browser tests/test_browser.py   # about a minute on 2 CPU cores (the notebook trains)
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_attention_explorer.ipynb"
INSIDE = ROOT / "notebooks" / "10_inside_one_prediction.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("ATTENTION_PLAYGROUND_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_SECONDS = 90
RUN_ALL_SECONDS = 300  # the notebook trains a model for about 25 s; generous for a loaded CI machine
UPDATE_SECONDS = 60  # one slider move: a callback in the kernel, a new PNG over the websocket

# The notebook panel the app shows: its kernel's status, and how many of its code cells have run.
NOTEBOOK_STATE_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  if (!kernel || !panel.content) return null;
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  return {
    status: kernel.status,
    cells: cells.length,
    executed: cells.filter(cell => cell.model.executionCount !== null).length,
  };
}"""
IDLE_JS = f"() => {{ const st = ({NOTEBOOK_STATE_JS})(); return st !== null && st.status === 'idle'; }}"
ALL_RAN_JS = (
    f"() => {{ const st = ({NOTEBOOK_STATE_JS})(); "
    "return st !== null && st.status === 'idle' && st.executed === st.cells; }"
)
NONE_RAN_JS = f"() => {{ const st = ({NOTEBOOK_STATE_JS})(); return st !== null && st.executed === 0; }}"
TITLE_HAS_JS = "want => document.querySelector('.ap-explorer-title').innerText.includes(want)"
NEXT_TITLE_HAS_JS = "want => document.querySelector('.ap-explorer-next-title').innerText.includes(want)"
TYPED_PROMPT = "O Romeo, Romeo! wherefore art thou Romeo?"  # 41 characters: the query goes to position 40


class Lab(NamedTuple):
    url: str
    token: str
    folder: Path
    log: Path
    notebook: str = NOTEBOOK.name  # the copy in `folder` the test opens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_environment(folder: Path) -> dict[str, str]:
    """This process's environment, the course's data folders, and Jupyter dirs of its own."""
    env = dict(os.environ)
    shared = ROOT.parent / "shared" / "data"  # where this project's machines keep the corpus
    if shared.is_dir():
        env.setdefault("ATTENTION_PLAYGROUND_DATA", str(shared))
        env.setdefault("TIKTOKEN_CACHE_DIR", str(shared / "tiktoken_cache"))
    env.setdefault("OMP_NUM_THREADS", "2")
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[name] = str(folder / ".jupyter" / name.lower())  # no user settings, no saved workspace
    env["JUPYTER_RUNTIME_DIR"] = str(folder / ".jupyter" / "runtime")
    # no "get Jupyter news?" toast over the screenshots, and no requests to the news site
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false, "doNotDisturbMode": true}'
    )
    return env


def stop(process: subprocess.Popen, url: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure its process group is gone."""
    try:
        request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(request, timeout=5)
        process.wait(timeout=20)
    except Exception:  # already gone, or not answering: signals below
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


def log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def skip_or_fail(reason: str) -> None:
    """Skip where the browser is optional; fail where CI says it must run."""
    if os.environ.get("ATTENTION_PLAYGROUND_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ATTENTION_PLAYGROUND_REQUIRE_BROWSER=1, but this test {reason}")
    pytest.skip(reason)


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A JupyterLab server over a temporary folder with a copy of NOTEBOOK (or the notebook a test
    passes with indirect parametrisation)."""
    notebook: Path = getattr(request, "param", NOTEBOOK)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("needs the playwright package (pip install playwright; never `playwright install`)")
    if not CHROMIUM.exists():
        skip_or_fail(f"needs Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    folder = tmp_path / "lab"
    folder.mkdir()
    shutil.copy(notebook, folder / notebook.name)
    port, token = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "jupyter-lab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", f"--ServerApp.token={token}", "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={folder}",
    ]  # fmt: skip
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=folder, env=lab_environment(folder), stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() can end all of it
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{log_tail(log)}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"jupyter lab did not answer within {SERVER_START_SECONDS} s:\n{log_tail(log)}"
                    )
                time.sleep(0.5)
        yield Lab(url, token, folder, log, notebook.name)
    finally:
        stop(process, url, token)
        if log.exists():
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(log, ARTIFACTS / "jupyter-lab.log")


def wait_for(page, predicate_js: str, seconds: float, what: str, arg=None, lab: Lab | None = None):
    """page.wait_for_function with a failure message that says what we waited for, and the server log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(predicate_js, arg=arg, timeout=seconds * 1000, polling=250)
    except PlaywrightTimeout:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        state = page.evaluate(NOTEBOOK_STATE_JS)
        server = f"\nserver log:\n{log_tail(lab.log)}" if lab else ""
        pytest.fail(
            f"waited {seconds} s for {what}; notebook state {state}; see test-artifacts/failure.png{server}"
        )


def slider_value(page, name: str) -> int:
    return int(page.locator(f".ap-explorer-{name} .widget-readout").inner_text().strip())


def test_explorer_sliders_redraw_in_jupyterlab(lab: Lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    began = time.perf_counter()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}&reset")
            wait_for(page, IDLE_JS, SERVER_START_SECONDS, "the notebook to open with an idle kernel", lab=lab)
            opened = time.perf_counter()

            # the saved notebook has execution counts already: clear them, so "all counted" means "all ran"
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
            wait_for(page, NONE_RAN_JS, 10, "the outputs to clear", lab=lab)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            wait_for(page, ALL_RAN_JS, RUN_ALL_SECONDS, "every cell to run (Run All)", lab=lab)
            ran = time.perf_counter()
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            tracebacks = [text for text in errors.all_inner_texts() if "Traceback" in text or "Error" in text]
            assert not tracebacks, f"a cell failed:\n{tracebacks[0][:2000]}"

            explorer = page.locator(".ap-explorer").first
            explorer.scroll_into_view_if_needed()
            image = page.locator("img.ap-explorer-image").first
            title = page.locator(".ap-explorer-title").first
            wait_for(
                page, "() => { const img = document.querySelector('img.ap-explorer-image');"
                " return img && img.complete && img.naturalWidth > 0; }",
                UPDATE_SECONDS, "the explorer's first picture", lab=lab,
            )  # fmt: skip
            explorer.screenshot(path=str(ARTIFACTS / "explorer-1-opened.png"))
            before_title, before_image = title.inner_text(), image.screenshot()
            head, query = slider_value(page, "head"), slider_value(page, "query")
            head_max = int(
                page.locator(".ap-explorer-head .noUi-handle").get_attribute("aria-valuemax").split(".")[0]
            )
            assert f"head {head}:" in before_title and f"(position {query})" in before_title, before_title

            # head: one step with the arrow keys (the slider only sends its value when a key is pressed)
            new_head = head + 1 if head < head_max else head - 1
            handle = page.locator(".ap-explorer-head .noUi-handle")
            handle.focus()
            handle.press("ArrowRight" if new_head > head else "ArrowLeft")
            wanted = f"head {new_head}:"
            wait_for(page, TITLE_HAS_JS, UPDATE_SECONDS, f"the title to show {wanted!r}", arg=wanted, lab=lab)
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            after_head_image = image.screenshot()
            assert after_head_image != before_image, "the picture did not change when the head changed"
            assert slider_value(page, "head") == new_head
            explorer.screenshot(path=str(ARTIFACTS / "explorer-2-head.png"))

            # query: PageDown moves noUiSlider 5 steps at a time; 7 presses go 35 positions back
            new_query = max(0, query - 35)
            handle = page.locator(".ap-explorer-query .noUi-handle")
            handle.focus()
            for _ in range(7):
                handle.press("PageDown")
            wait_for(
                page, TITLE_HAS_JS, UPDATE_SECONDS, f"the title to show query position {new_query}",
                arg=f"(position {new_query})", lab=lab,
            )  # fmt: skip
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            after_query_title = title.inner_text()
            assert f"head {new_head}: query" in after_query_title, after_query_title
            assert image.screenshot() != after_head_image, "the picture did not change when the query changed"
            shot = explorer.screenshot(path=str(ARTIFACTS / "explorer-3-query.png"))
            if os.environ.get("ATTENTION_PLAYGROUND_UPDATE_IMAGES") == "1":
                assert len(shot) < 300_000, f"the screenshot is {len(shot):,} bytes: keep images under 300 KB"
                (ROOT / "images" / "explorer.png").write_bytes(shot)  # the README's picture

            # the second tab: every head, drawn when it is opened
            page.locator(".ap-explorer .lm-TabBar-tab", has_text="all heads").first.click()
            wait_for(
                page, "() => { const img = document.querySelector('img.ap-explorer-heads-image');"
                " return img && img.complete && img.naturalWidth > 0 && img.offsetParent !== null; }",
                UPDATE_SECONDS, "the all-heads picture", lab=lab,
            )  # fmt: skip
            heads_title = page.locator(".ap-explorer-heads-title").first.inner_text()
            assert f"head {new_head} framed" in heads_title and f"(position {new_query})" in heads_title
            explorer.screenshot(path=str(ARTIFACTS / "explorer-4-all-heads.png"))
            page.locator(".ap-explorer .lm-TabBar-tab", has_text="one head").first.click()

            # the text box: a prompt of one's own, sent with Enter (the box does not update per key)
            box = page.locator(".ap-explorer-text input").first
            box.fill(TYPED_PROMPT)
            box.press("Enter")
            last = len(TYPED_PROMPT) - 1
            wait_for(
                page, TITLE_HAS_JS, UPDATE_SECONDS, f"the title to show the typed prompt's end ({last})",
                arg=f"(position {last})", lab=lab,
            )  # fmt: skip
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            assert slider_value(page, "query") == last
            next_title = page.locator(".ap-explorer-next-title").first
            assert (
                f"(position {last})" in next_title.inner_text()
                and "knocked out" not in next_title.inner_text()
            )
            next_image = page.locator("img.ap-explorer-next-image").first
            before_knock_out = next_image.screenshot()
            explorer.screenshot(path=str(ARTIFACTS / "explorer-5-typed-prompt.png"))

            # the toggle: knock the chosen head out, rerun the model, compare the next token
            page.locator("button.ap-explorer-knock-out").first.click()
            wanted = f"layer {slider_value(page, 'layer')} head {new_head} knocked out"
            wait_for(page, NEXT_TITLE_HAS_JS, UPDATE_SECONDS, f"the next-token title to say {wanted!r}",
                     arg=wanted, lab=lab)  # fmt: skip
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            assert next_image.screenshot() != before_knock_out, "the bars did not change with the head out"
            explorer.screenshot(path=str(ARTIFACTS / "explorer-6-knocked-out.png"))
        finally:
            browser.close()
    done = time.perf_counter()
    timing = (
        f"open {opened - began:.1f} s, run all {ran - opened:.1f} s, sliders and tabs {done - ran:.1f} s, "
        f"total {done - began:.1f} s (server start not included)"
    )
    (ARTIFACTS / "browser-timing.txt").write_text(timing + "\n")
    print(timing)


# textContent, not innerText: JupyterLab skips rendering cells out of view, and their innerText is ""
NEXT_TITLE_JS = "want => document.querySelector('.ap-next-title').textContent.includes(want)"
NEXT_TITLE_CHANGED_JS = "was => document.querySelector('.ap-next-title').textContent !== was"
NEXT_PROMPT = "O Romeo, Romeo! wherefore art thou "  # after a space many tokens are likely: the bars move


def open_and_run_all(page, lab: Lab) -> None:
    """Open the lab's notebook, clear its saved outputs, run every cell, and check none failed."""
    page.goto(f"{lab.url}/lab/tree/{lab.notebook}?token={lab.token}&reset")
    wait_for(page, IDLE_JS, SERVER_START_SECONDS, "the notebook to open with an idle kernel", lab=lab)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    wait_for(page, NONE_RAN_JS, 10, "the outputs to clear", lab=lab)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    wait_for(page, ALL_RAN_JS, RUN_ALL_SECONDS, "every cell to run (Run All)", lab=lab)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [text for text in errors.all_inner_texts() if "Traceback" in text or "Error" in text]
    assert not tracebacks, f"a cell failed:\n{tracebacks[0][:2000]}"


@pytest.mark.parametrize("lab", [INSIDE], indirect=True, ids=["10_inside_one_prediction"])
def test_next_token_view_takes_a_typed_prompt_and_a_temperature_in_jupyterlab(lab: Lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            open_and_run_all(page, lab)
            view = page.locator(".ap-next").first
            view.scroll_into_view_if_needed()
            wait_for(
                page, "() => { const img = document.querySelector('img.ap-next-image');"
                " return img && img.complete && img.naturalWidth > 0; }",
                UPDATE_SECONDS, "the next-token view's first picture", lab=lab,
            )  # fmt: skip
            image = page.locator("img.ap-next-image").first
            title = page.locator(".ap-next-title").first
            wait_for(
                page,
                NEXT_TITLE_JS,
                UPDATE_SECONDS,
                "the title of the first bars",
                arg="temperature 0.8",
                lab=lab,
            )
            view.screenshot(path=str(ARTIFACTS / "next-token-1-opened.png"))

            # a prompt of one's own, sent with Enter: the title shows its end
            box = page.locator(".ap-next-text input").first
            box.fill(NEXT_PROMPT)
            box.press("Enter")
            wait_for(page, NEXT_TITLE_JS, UPDATE_SECONDS, "the title to show the typed prompt's end",
                     arg="art␣thou␣", lab=lab)  # fmt: skip
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            typed = image.screenshot()
            view.screenshot(path=str(ARTIFACTS / "next-token-2-typed.png"))

            # temperature: one step to the right with the arrow key (0.8 -> 0.85), the bars redrawn
            handle = page.locator(".ap-next-temperature .noUi-handle")
            handle.focus()
            handle.press("ArrowRight")
            wait_for(page, NEXT_TITLE_JS, UPDATE_SECONDS, "the title to show temperature 0.85",
                     arg="temperature 0.85", lab=lab)  # fmt: skip
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            assert "art␣thou␣" in title.text_content(), "the typed prompt stays"
            assert image.screenshot() != typed, "the bars did not change with the temperature"
            view.screenshot(path=str(ARTIFACTS / "next-token-3-temperature.png"))

            # next: one token drawn and appended to the prompt, the title following it
            before_next = title.text_content()
            page.locator("button.ap-next-next-button").first.click()
            longer = "want => document.querySelector('.ap-next-text input').value.length > want"
            wait_for(
                page, longer, UPDATE_SECONDS, "a token appended to the prompt", arg=len(NEXT_PROMPT), lab=lab
            )
            wait_for(page, IDLE_JS, UPDATE_SECONDS, "the kernel to finish the update", lab=lab)
            assert box.input_value().startswith(NEXT_PROMPT)
            wait_for(page, NEXT_TITLE_CHANGED_JS, UPDATE_SECONDS, "the title to follow the longer prompt",
                     arg=before_next, lab=lab)  # fmt: skip
            view.screenshot(path=str(ARTIFACTS / "next-token-4-next.png"))
        finally:
            browser.close()
