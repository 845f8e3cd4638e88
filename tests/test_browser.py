"""The built book in a real browser: headless Chromium (Debian's chromium + chromedriver) loads
each page from a local HTTP server with no other network, and the test checks that MathJax,
shipped with the build, typeset every formula (no raw TeX delimiters left in the visible text,
no MathJax errors) and that every image loaded. Screenshots go to _build/browser/."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bookpages import toc_docnames

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


PAGES = [f"{name}.html" for name in toc_docnames()]

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        return (
            "headless Chromium is not installed: `make test` installs Debian's chromium and "
            "chromium-driver with apt-get, which needs root on a Debian machine"
        )
    if not (HTML / "book" / "ch2" / "amm.html").exists():
        return "the book is not built: run `make book` (make test builds it before pytest)"
    return None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser check cannot run under CI: {reason}")
        pytest.skip(reason)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def driver(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1280,2000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


TYPESET = """
const done = arguments[arguments.length - 1];
const wait = (n) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('ok')).catch((e) => done('error: ' + e));
  } else if (n > 200) { done('no MathJax'); } else { setTimeout(() => wait(n + 1), 50); }
};
wait(0);
"""

VISIBLE_TEXT = """
const clone = document.querySelector('main, article, body').cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, .cell_input')
     .forEach((n) => n.remove());
return clone.textContent;
"""

IMAGES = """
return Array.from(document.querySelectorAll('main img, article img')).map(
  (img) => [img.getAttribute('src'), img.complete && img.naturalWidth > 0]);
"""


@pytest.mark.parametrize("page", PAGES)
def test_page_typesets_math_and_loads_images(driver, server: str, page: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(f"{server}/{page}")
    mathjax = driver.execute_script(
        "return Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s));"
    )
    # Sphinx loads MathJax only on pages that contain math; those must typeset it from the
    # copy shipped with the build, and the others must have no math to typeset.
    if mathjax:
        assert all(src.startswith(server) for src in mathjax), mathjax
        assert driver.execute_async_script(TYPESET) == "ok"
    else:
        assert not driver.find_elements("css selector", ".math, div.math, span.math")
    text = driver.execute_script(VISIBLE_TEXT)
    for raw in ("\\(", "\\)", "$$", "\\[", "\\begin{"):
        assert raw not in text, f"raw TeX {raw!r} left on {page}"
    assert not driver.find_elements("css selector", "mjx-merror")
    for src, loaded in driver.execute_script(IMAGES):
        assert loaded, f"image {src} did not load on {page}"
    shots = ROOT / "_build" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / (page.replace("/", "_") + ".png")))


def test_chapter_has_typeset_math_and_its_figure(driver, server: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(f"{server}/book/ch2/amm.html")
    assert driver.execute_async_script(TYPESET) == "ok"
    assert len(driver.find_elements("css selector", "mjx-container")) >= 20
    figure = driver.find_element("css selector", "figure#fig-amm-price-impact img")
    assert driver.execute_script("return arguments[0].naturalWidth", figure) > 300
