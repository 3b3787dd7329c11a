"""The built ci report, opened in headless Chromium with networking off: every page loads, every
chart draws, nothing is fetched from the network, no script errors, and every link resolves."""
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.headless import Browser, chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (CI installs it)")


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def _pages(report_dir: Path) -> list[Path]:
    return [report_dir / "index.html", *sorted(p for p in report_dir.glob("*.html") if p.name != "index.html")]


def test_every_page_loads_offline_with_charts_and_no_errors(ci_report, browser):
    pages = _pages(ci_report)
    assert len(pages) >= 2
    for page in pages:
        shown = browser.load(page.as_uri())
        assert shown["text"] > 200, f"{page.name} looks empty"
        assert shown["errors"] == [], f"{page.name}: {shown['errors']}"
        remote = [u for u in shown["requests"] if not u.startswith(("file:", "data:"))]
        assert remote == [], f"{page.name} asked the network for {remote}"
        assert shown["broken_images"] == 0, page.name
        assert shown["svg"] + shown["canvas"] + shown["svg_images"] > 0, f"{page.name} draws no chart"


def test_every_link_resolves(ci_report, browser):
    for page in _pages(ci_report):
        for href in browser.load(page.as_uri())["links"]:
            url = urlparse(href)
            if url.scheme in ("http", "https", "mailto") or href.startswith("#"):
                continue
            target = (page.parent / unquote(url.path)).resolve()
            assert target.exists(), f"{page.name} links to missing {href}"
