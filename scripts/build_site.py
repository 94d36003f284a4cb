"""Build the course as a static website from the saved notebooks, without running them.

Usage: .venv/bin/python scripts/build_site.py [--out site]   (`make site`; a few seconds; see docs/site.md)

The README is the front page, then one page per notebook in course order, the docs/ pages, the
images, and a search page whose index is built here (search-index.js): nothing is fetched from
another host, when building or when reading. Notebook cells are drawn by nbconvert's JupyterLab
template (scripts/site_assets/notebook.html.j2); where a notebook marks an explorer widget (cell
metadata {"attention_playground": {"explorer": "<file in images/>"}}) the page embeds that file,
written by scripts/draw_explorers.py. The pages keep the repository's layout (notebooks/, docs/,
images/), so relative links work as they do on GitHub; links to .ipynb and .md files become links
to their pages, and links to other repository files become plain text. The build fails if any page
would load a script, stylesheet, image or frame from another host.
"""

from __future__ import annotations

import argparse
import html
import json
import posixpath
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "site_assets"
LINK = re.compile(r'(?P<attr>\b(?:href|src))="(?P<url>[^"]*)"')
ANCHOR = re.compile(r'<a href="(?P<url>[^"]*)"[^>]*>(?P<text>.*?)</a>', re.S)
# a fetch from elsewhere: a src=, or a stylesheet / preload / icon link, or url() / @import in CSS
REMOTE_FETCH = re.compile(
    r'\bsrc\s*=\s*["\']?\s*(?:https?:)?//|<link\b[^>]*\bhref\s*=\s*["\']?\s*(?:https?:)?//'
    r'|url\(\s*["\']?\s*(?:https?:)?//|@import\s+["\']?\s*(?:https?:)?//',
    re.I,
)


@dataclass(frozen=True)
class Page:
    source: str  # repository path: "README.md", "notebooks/03_masked_softmax.ipynb", "docs/x.md"
    url: str  # site path: "index.html", "notebooks/03_masked_softmax.html", "docs/x.html"
    title: str


def page_url(source: str) -> str | None:
    """The site path of a repository file that becomes a page, or None."""
    if source == "README.md":
        return "index.html"
    if (source.startswith("notebooks/") and source.endswith(".ipynb")) or (
        source.startswith("docs/") and source.endswith(".md")
    ):
        return source.rsplit(".", 1)[0] + ".html"
    return None


def collect_pages(root: Path) -> tuple[list[Page], list[Page], list[Page]]:
    """(front page, notebooks in course order, docs) with their titles."""
    front = [Page("README.md", "index.html", "Home")]
    notebooks = []
    for path in sorted((root / "notebooks").glob("[0-9]*.ipynb")):
        number, _, name = path.stem.partition("_")
        title = f"{number} · {name.replace('_', ' ')}"
        notebooks.append(Page(f"notebooks/{path.name}", f"notebooks/{path.stem}.html", title))
    docs = []
    for path in sorted((root / "docs").glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        heading = next((line[2:].strip() for line in lines if line.startswith("# ")), "")
        docs.append(Page(f"docs/{path.name}", f"docs/{path.stem}.html", heading or path.stem))
    return front, notebooks, docs


def rewrite_links(content: str, page: Page, root: Path) -> str:
    """Links as the site has them: .ipynb and .md to their pages, other repository files to plain text."""

    def target(url: str) -> tuple[str, str | None]:
        """(what the link points at in the repository, its site URL or None for "not on the site")."""
        path, _, fragment = url.partition("#")
        source = posixpath.normpath(posixpath.join(posixpath.dirname(page.source), path))
        site = page_url(source) or (source if source.startswith("images/") else None)
        if site is None:
            return source, None
        relative = posixpath.relpath(site, posixpath.dirname(page.url) or ".")
        return source, relative + (f"#{fragment}" if fragment else "")

    def local(url: str) -> bool:
        return bool(url) and not re.match(r"^([a-z][a-z0-9+.-]*:|//|#)", url, re.I)

    def unlink(match: re.Match) -> str:
        url = html.unescape(match["url"])
        if not local(url) or target(url)[1] is not None:
            return match[0]
        source = target(url)[0]
        where = f"in the repository: {source}" if (root / source).exists() else "not in the repository"
        return f'<span class="site-repo-file" title="{html.escape(where)}">{match["text"]}</span>'

    def relink(match: re.Match) -> str:
        url = html.unescape(match["url"])
        if not local(url):
            return match[0]
        site = target(url)[1]
        return f'{match["attr"]}="{html.escape(site)}"' if site is not None else match[0]

    return LINK.sub(relink, ANCHOR.sub(unlink, content))


HEADING = re.compile(r'<h(?P<level>[1-6]) id="(?P<id>[^"]*)">(?P<inner>.*?)</h(?P=level)>', re.S)


def github_slug(heading_html: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation dropped, spaces as hyphens."""
    text = html.unescape(re.sub(r"<[^>]+>", "", heading_html.replace("&#182;", ""))).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def github_anchors(content: str) -> str:
    """Each heading also answers to GitHub's anchor for it, so `page.md#a-heading` links work here too."""

    def add(match: re.Match) -> str:
        slug = github_slug(match["inner"])
        return match[0] if slug == match["id"] else f'<span id="{html.escape(slug)}"></span>{match[0]}'

    return HEADING.sub(add, content)


def render_markdown(page: Page, root: Path) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune((root / page.source).read_text(encoding="utf-8"))


def notebook_exporter():
    """nbconvert's HTML exporter with the site's template: the cells only, nothing from a CDN."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab", template_file="notebook.html.j2", extra_template_paths=[str(ASSETS)]
    )


def render_notebook(page: Page, root: Path, exporter) -> str:
    import nbformat

    notebook = nbformat.read(root / page.source, as_version=4)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": page.title}})
    return body


def notebook_css() -> str:
    """JupyterLab's light theme and code colours, as nbconvert's lab template inlines them."""
    from jupyterlab_pygments import JupyterStyle
    from nbconvert.exporters.templateexporter import TemplateExporter
    from pygments.formatters import HtmlFormatter

    static = next(
        Path(folder) / "lab" / "static"
        for folder in TemplateExporter().template_paths + TemplateExporter()._template_paths()
        if (Path(folder) / "lab" / "static" / "index.css").exists()
    )
    parts = [(static / name).read_text(encoding="utf-8") for name in ("index.css", "theme-light.css")]
    parts.append(HtmlFormatter(style=JupyterStyle).get_style_defs(".highlight"))
    return "\n".join(parts)


def search_sections(page: Page, content: str) -> list[dict[str, str]]:
    """The page's text, cut at each h1-h3: what search.js looks through."""
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(content, "html.parser")
    sections = [{"page": page.title, "url": page.url, "title": "", "anchor": "", "text": ""}]
    texts: list[list[str]] = [[]]
    for node in soup.descendants:
        if isinstance(node, Tag) and node.name in ("h1", "h2", "h3"):
            title = node.get_text(" ", strip=True).rstrip("¶").strip()
            sections.append({"page": page.title, "url": page.url, "title": title,
                             "anchor": str(node.get("id", "")), "text": ""})  # fmt: skip
            texts.append([])
        elif isinstance(node, NavigableString) and node.parent is not None:
            if node.parent.name in ("script", "style") or node.find_parent(["h1", "h2", "h3"]):
                continue
            texts[-1].append(str(node))
    for section, words in zip(sections, texts, strict=True):  # "" keeps highlighted code's pieces together
        section["text"] = " ".join("".join(words).split())
    return [section for section in sections if section["text"] or section["title"]]


def remote_fetches(text: str) -> list[str]:
    """Every place in a page that would load something from another host when the page is viewed."""
    return [text[max(0, m.start() - 30) : m.end() + 50] for m in REMOTE_FETCH.finditer(text)]


def build(root: Path, out: Path) -> dict[str, float]:
    """Write the site into `out` (replaced); return what was built: pages, seconds."""
    import jinja2

    began = time.perf_counter()
    front, notebooks, docs = collect_pages(root)
    nav = [("Start", front), ("Lessons", notebooks), ("Docs", docs)]
    if out.exists():
        shutil.rmtree(out)
    (out / "assets").mkdir(parents=True)
    (out / ".nojekyll").touch()  # GitHub Pages: serve the files as they are (docs/site.md)
    shutil.copytree(root / "images", out / "images")
    (out / "assets" / "notebook.css").write_text(notebook_css(), encoding="utf-8")
    for name in ("site.css", "site.js", "search.js"):
        shutil.copy(ASSETS / name, out / "assets" / name)
    shell = jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS), autoescape=False)
    template = shell.get_template("page.html.j2")
    exporter = notebook_exporter()
    index: list[dict[str, str]] = []
    for page in front + notebooks + docs:
        is_notebook = page.source.endswith(".ipynb")
        body = render_notebook(page, root, exporter) if is_notebook else render_markdown(page, root)
        body = rewrite_links(github_anchors(body), page, root)
        index += search_sections(page, body)
        position = notebooks.index(page) if is_notebook else -1
        previous = notebooks[position - 1] if position > 0 else None
        following = notebooks[position + 1] if 0 <= position < len(notebooks) - 1 else None
        write_page(out, template, nav, page, body, is_notebook, previous, following)
    search = Page("search.html", "search.html", "Search")
    search_body = (
        '<h1>Search</h1>\n<p><label for="search-query">Words to find</label> '
        '<input id="search-query" type="search" autofocus></p>\n'
        '<p id="search-status" aria-live="polite"></p>\n<ol id="search-results" class="site-results"></ol>'
    )
    write_page(
        out, template, nav, search, search_body, False, scripts=("site.js", "search-index.js", "search.js")
    )
    payload = json.dumps(index, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    (out / "assets" / "search-index.js").write_text(f"window.SITE_SEARCH = {payload};\n", encoding="utf-8")
    check_offline(out)
    pages = len(front) + len(notebooks) + len(docs) + 1
    return {"pages": pages, "notebooks": len(notebooks), "seconds": time.perf_counter() - began}


def write_page(
    out: Path, template, nav: list, page: Page, body: str, is_notebook: bool,
    previous: Page | None = None, following: Page | None = None, scripts: tuple[str, ...] = ("site.js",),
) -> None:  # fmt: skip
    """One page: the site's header, navigation and pager around `body`."""
    root = "../" * page.url.count("/")
    text = template.render(
        title=html.escape(page.title), root=root, nav=nav, url=page.url, content=body,
        kind="notebook" if is_notebook else "page", previous=previous, next=following, scripts=scripts,
    )  # fmt: skip
    path = out / page.url
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def check_offline(out: Path) -> None:
    """Fail the build if a page, stylesheet or script would fetch from another host."""
    bad = []
    for path in sorted(out.rglob("*")):
        if path.suffix in (".html", ".css", ".js"):
            hits = remote_fetches(path.read_text(encoding="utf-8"))
            bad += [f"{path.relative_to(out)}: ...{hit}..." for hit in hits]
    if bad:
        raise SystemExit("the site would load from other hosts:\n" + "\n".join(bad[:20]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="where to write it (default: site/)")
    args = parser.parse_args(argv)
    built = build(ROOT, args.out.resolve())
    pages, notebooks, seconds = built["pages"], built["notebooks"], built["seconds"]
    print(f"built {pages:.0f} pages ({notebooks:.0f} notebooks) into {args.out} in {seconds:.1f} s")
    print(f"open {args.out / 'index.html'}, or serve it: python -m http.server -d {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
