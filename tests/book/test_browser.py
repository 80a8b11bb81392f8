"""The built smoke book in a real browser: charts draw offline and show tooltips."""
import functools
import http.server
import os
import re
import shutil
import threading
from urllib.parse import urlparse

import pytest

from lib.book.build import chapters

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
@pytest.fixture(scope="module")
def site(smoke_book):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = smoke_book / "_build" / "html"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = "Debian's chromium is needed for the browser test: apt-get install chromium"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("page_name", ["index"] + [f"book/{nb.stem}" for nb in chapters()])
def test_page_draws_its_charts_offline_with_tooltips(browser, site, page_name):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site}/{page_name}.html", wait_until="load")
    page.wait_for_load_state("networkidle")
    charts = page.locator("div[id^='altair-viz']")  # altair's output divs, drawn or not
    if page_name == "book/intro":  # the verdicts, their summary figure (chapter 7's chart) and the pipeline figure
        assert page.locator("table tr").count() == 5 and page.locator("img[src$='pipeline.svg']").count() == 1
    if page_name == "book/appendix_settings":  # no chart: the box that sets the profile beside the paper
        assert page.locator("div.differences table tr").count() >= 8
    elif page_name != "index":
        assert charts.count() >= 1
        page.wait_for_function("[...document.querySelectorAll(\"div[id^='altair-viz']\")]"
                               ".every(e => e.matches('.vega-embed') && e.querySelector('svg'))", timeout=20_000)
        for index in range(charts.count()):  # every chart: hover its first point (or cell)
            mark = charts.nth(index).locator("svg .mark-symbol path, svg .mark-rect path").first
            mark.scroll_into_view_if_needed()
            page.mouse.move(0, 0)
            mark.hover(force=True)
            tooltip = page.locator("#vg-tooltip-element.visible")
            tooltip.wait_for(state="visible", timeout=5_000)
            assert re.search(r"\d", tooltip.inner_text()), f"chart {index} of {page_name}"
    if page_name.startswith("book/0"):  # a chapter: machinery folded, the closing note present
        assert page.locator(".tag_injected-parameters").count() == 0
        assert page.locator(".tag_parameters.tag_hide-input").count() == 1
        assert page.locator("details.reproduce summary").inner_text() == "Reproduce this page"
    outside = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", None)
               and not url.startswith("data:")]
    assert outside == []
    assert errors == []  # the repeated THEBE_JS_URL declaration included (lib.book.build.drop_repeated_scripts)
    page.close()
