"""The course site as a visitor sees it: built from the saved notebooks (scripts/build_site.py), served
from localhost and read in headless Chromium, with every request to another host blocked and logged.

Every notebook page shows its outputs and images, every internal link lands, no request leaves for
another host, the embedded explorer redraws when its head slider moves (from the keyboard), and search
finds "softmax". The build runs with the network cut off (`unshare -rn`) where this machine allows it.
Screenshots go to test-artifacts/; with ATTENTION_PLAYGROUND_UPDATE_IMAGES=1 the exported explorer's
screenshot also replaces images/explorer_export.png. Skips without Chromium or playwright, unless
ATTENTION_PLAYGROUND_REQUIRE_BROWSER=1 (CI) says fail.

    pytest -m browser tests/test_site.py   # about 30 s on 2 CPU cores
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import pytest
from test_browser import CHROMIUM, CHROMIUM_FLAGS, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
BUILD_SECONDS = 240  # about 10 s here; generous for a loaded CI machine
REMOTE_FETCH = re.compile(
    r"\bsrc\s*=\s*[\"']?\s*(?:https?:)?//|<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|url\(\s*[\"']?\s*(?:https?:)?//|@import\s+[\"']?\s*(?:https?:)?//",
    re.I,
)


class Site(NamedTuple):
    folder: Path
    url: str  # http://127.0.0.1:<port>/
    offline: str  # "" when built with the network cut off, else why not
    seconds: float


def network_off_prefix() -> tuple[list[str], str]:
    """(`unshare -rn` if it works here, "") or ([], why not)."""
    if shutil.which("unshare") is None:
        return [], "no unshare command on this machine"
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return [], f"unshare -rn is not allowed here: {probe.stderr.strip()[:200]}"
    return ["unshare", "-rn"], ""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site") / "site"
    prefix, offline = network_off_prefix()
    began = time.perf_counter()
    built = subprocess.run(
        [*prefix, sys.executable, str(ROOT / "scripts" / "build_site.py"), "--out", str(folder)],
        capture_output=True, text=True, timeout=BUILD_SECONDS, cwd=ROOT,
    )  # fmt: skip
    seconds = time.perf_counter() - began
    assert built.returncode == 0, f"the site build failed:\n{built.stdout}\n{built.stderr[-3000:]}"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "site-build.txt").write_text(f"{built.stdout}with Python's start-up: {seconds:.1f} s\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Site(folder, f"http://127.0.0.1:{server.server_address[1]}/", offline, seconds)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("needs the playwright package (pip install playwright; never `playwright install`)")
    if not CHROMIUM.exists():
        skip_or_fail(f"needs Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Visitor(NamedTuple):
    page: object  # playwright Page
    elsewhere: list[str]  # every request for another host: blocked, and listed here


@pytest.fixture
def visitor(browser, site: Site) -> Iterator[Visitor]:
    """A fresh browser tab where any request for another host is blocked and logged; the test fails
    if one was made."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    elsewhere: list[str] = []
    own = urlsplit(site.url).netloc

    def guard(route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob", "about") or urlsplit(url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", guard)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield Visitor(page, elsewhere)
    finally:
        context.close()
    assert not errors, f"a page's script failed: {errors[:3]}"
    assert not elsewhere, f"requests for another host: {elsewhere[:10]}"


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def expected_outputs(path: Path) -> tuple[int, int]:
    """(outputs a page shows, images among them and in the markdown) for a saved notebook. Training
    progress bars are widgets with no kernel to draw them: the site leaves them out."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    outputs = images = 0
    for cell in cells:
        if cell["cell_type"] == "markdown":
            images += len(re.findall(r"!\[[^\]]*\]\([^)]+\)", "".join(cell["source"])))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(data.get("text/plain", ""))
            progress = "application/vnd.jupyter.widget-view+json" in data and "%|" in text
            outputs += not progress
            images += "image/png" in data or "image/jpeg" in data
    return outputs, images


def test_the_site_builds_with_the_network_off(site: Site):
    if site.offline:
        pytest.skip(f"built with the network on: {site.offline}")
    assert (site.folder / "index.html").exists()  # the module's build ran under unshare -rn


def test_every_page_is_listed_and_nothing_loads_from_another_host(site: Site):
    pages = sorted(p.relative_to(site.folder).as_posix() for p in site.folder.rglob("*.html"))
    wanted = {"index.html", "search.html"} | {f"notebooks/{p.stem}.html" for p in notebooks()}
    wanted |= {f"docs/{p.stem}.html" for p in (ROOT / "docs").glob("*.md")}
    assert wanted <= set(pages)
    for path in site.folder.rglob("*"):
        if path.suffix in (".html", ".css", ".js"):
            hit = REMOTE_FETCH.search(path.read_text(encoding="utf-8"))
            assert hit is None, f"{path.relative_to(site.folder)} loads from elsewhere: {hit}"


def test_every_notebook_page_shows_its_outputs_and_images(visitor: Visitor, site: Site):
    page = visitor.page
    for path in notebooks():
        page.goto(f"{site.url}notebooks/{path.stem}.html")
        page.wait_for_load_state("load")
        outputs, images = expected_outputs(path)
        shown = page.locator(".jp-OutputArea-child").count()
        assert shown == outputs, f"{path.name}: {shown} outputs shown, the saved notebook has {outputs}"
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('main img')]"
            ".filter(image => image.complete && image.naturalWidth > 0).length"
        )
        total = page.locator("main img").count()
        assert drawn == total >= images, f"{path.name}: {drawn} of {total} images drawn, {images} expected"
        assert page.locator("main .jp-CodeCell").count() > 0
        errors = page.locator("main .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert errors.filter(has_text="Traceback").count() == 0, f"{path.name} shows a traceback"


def test_internal_links_resolve(visitor: Visitor, site: Site):
    page = visitor.page
    pages = sorted(p.relative_to(site.folder).as_posix() for p in site.folder.rglob("*.html"))
    checked = 0
    for name in pages:
        if name.startswith("images/"):  # the exported explorers: no links to follow
            continue
        page.goto(site.url + name)
        links = page.evaluate(
            "() => [...document.querySelectorAll('a[href], img[src], iframe[src], link[href], script[src]')]"
            ".map(e => e.href || e.src)"
        )
        for link in links:
            parts = urlsplit(link)
            if parts.scheme == "data":  # a notebook's figure, inside the page
                continue
            if not link.startswith(site.url):
                assert parts.scheme in ("http", "https", "mailto"), f"{name}: odd link {link[:200]}"
                continue  # a link to another site: followed only if the reader clicks it
            target = site.folder / unquote(parts.path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), f"{name} links to {link}, which is not in the site"
            if parts.fragment and target.suffix == ".html":
                anchor = f'id="{parts.fragment}"'
                assert anchor in target.read_text(encoding="utf-8"), f"{name}: no {anchor} in {target.name}"
            checked += 1
    assert checked > 100  # the navigation alone has about 25 links on every page


def heatmap(frame) -> str:
    return frame.evaluate("() => document.getElementById('ap-heatmap').toDataURL()")


def test_the_embedded_explorer_redraws_when_the_head_slider_moves(visitor: Visitor, site: Site):
    page = visitor.page
    page.goto(f"{site.url}notebooks/07_attention_explorer.html")
    element = page.locator(".site-explorer iframe[data-explorer='explorer.html']")
    element.scroll_into_view_if_needed()
    frame = element.element_handle().content_frame()
    frame.wait_for_function("() => document.getElementById('ap-title').textContent.length > 0")
    before, title = heatmap(frame), frame.locator("#ap-title").inner_text()
    head = int(frame.locator("#ap-head").input_value())
    top = int(frame.locator("#ap-head").get_attribute("max"))
    new_head = head + 1 if head < top else head - 1
    frame.locator("#ap-head").focus()
    frame.locator("#ap-head").press("ArrowRight" if new_head > head else "ArrowLeft")  # the keyboard
    frame.wait_for_function(
        "want => document.getElementById('ap-title').textContent.includes(want)", arg=f"head {new_head}:"
    )
    assert frame.locator("#ap-head-out").inner_text() == str(new_head)
    assert heatmap(frame) != before, "the heatmap did not change when the head changed"
    label = frame.locator("#ap-heatmap").get_attribute("aria-label")
    assert f"head {new_head}:" in label and "reads" in label  # the picture's text alternative follows
    assert title.replace(f"head {head}:", "") != frame.locator("#ap-title").inner_text().replace(
        f"head {new_head}:", ""
    )  # fmt: skip
    height = element.evaluate("e => e.getBoundingClientRect().height")
    assert height > 600, f"the explorer's frame is {height} px tall: it did not take its page's height"
    ARTIFACTS.mkdir(exist_ok=True)
    element.screenshot(path=str(ARTIFACTS / "site-explorer.png"))

    # the same file on its own, as a reader who was sent it opens it
    page.goto(f"{site.url}images/explorer.html")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.wait_for_function("() => document.getElementById('ap-title').textContent.length > 0")
    query = page.locator("#ap-query")
    query.focus()
    for _ in range(35):  # back from the line's last token to the 'l' of "light"
        query.press("ArrowLeft")
    shot = page.screenshot(path=str(ARTIFACTS / "explorer-export.png"), full_page=True)
    if os.environ.get("ATTENTION_PLAYGROUND_UPDATE_IMAGES") == "1":
        assert len(shot) < 300_000, f"the screenshot is {len(shot):,} bytes: keep images under 300 KB"
        (ROOT / "images" / "explorer_export.png").write_bytes(shot)  # the README's picture


def test_search_finds_softmax(visitor: Visitor, site: Site):
    page = visitor.page
    page.goto(site.url + "index.html")
    page.locator("#site-search-box").fill("softmax")
    page.locator("#site-search-box").press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q=softmax"))
    results = page.locator("#search-results li")
    results.first.wait_for()
    assert results.count() >= 10
    assert all("softmax" in text.lower() for text in results.all_inner_texts()[:10])
    assert "03 · masked softmax" in " ".join(results.all_inner_texts())
    results.first.locator("a").click()
    page.wait_for_load_state("load")
    assert "softmax" in page.locator("main").inner_text().lower()


def test_the_guard_catches_a_request_for_another_host(browser, site: Site):
    """The visitor fixture's check can fail: a page that fetches from elsewhere is caught."""
    context = browser.new_context()
    caught: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site.url)
                  else (caught.append(route.request.url), route.abort()))  # fmt: skip
    page = context.new_page()
    page.goto(site.url + "index.html")
    page.evaluate("() => { const s = document.createElement('script'); s.src = 'https://cdn.example.org/x.js';"
                  " document.head.appendChild(s); }")  # fmt: skip
    page.wait_for_timeout(500)
    context.close()
    assert caught == ["https://cdn.example.org/x.js"]
