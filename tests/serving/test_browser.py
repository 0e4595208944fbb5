"""The web demo in headless Chromium: type a sentence, read the rendered tags, save a screenshot.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``)
and selenium; skipped otherwise. Set ``NLPTAG_SCREENSHOT_DIR`` to keep the screenshots (the
README's come from ``NLPTAG_SCREENSHOT_DIR=benchmarks/results``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import nlptag
from nlptag.inference.export import export
from nlptag.serving.app import create_app
from tests.conftest import REPO
from tests.serving.conftest import running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SENTENCE = "The quick brown fox jumps over the lazy dog ."

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
        reason="no headless browser: apt-get install chromium chromium-driver",
    ),
]


@pytest.fixture(scope="module")
def demo_bundle(tiny_checkpoints, tmp_path_factory) -> Path:
    """The demo tagger (``make demo``'s runs/demo), or the demo config trained briefly."""
    trained = REPO / "runs" / "demo" / "checkpoints" / "best.ckpt"
    checkpoint = trained if trained.exists() else tiny_checkpoints("tagging")["checkpoint"]
    return export(checkpoint, tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,620",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def screenshot(driver, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NLPTAG_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 1000
    return path


def wait_for(driver, css: str, count: int | None = None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        elements = d.find_elements(By.CSS_SELECTOR, css)
        return elements if elements and (count is None or len(elements) == count) else False

    return WebDriverWait(driver, 20).until(found)


def test_demo_page_tags_a_typed_sentence(demo_bundle, bundles, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    tagger = nlptag.load(demo_bundle)
    expected = tagger.predict([SENTENCE])[0]
    app = create_app({"demo": demo_bundle, "sentiment": bundles["classification"]})
    with running_server(app) as url:
        browser.get(url + "/")
        wait_for(browser, "#model option", count=2)
        text = browser.find_element(By.ID, "text")
        text.send_keys(SENTENCE)
        browser.find_element(By.ID, "run").click()
        tokens = wait_for(browser, "#result .token", count=len(expected["tokens"]))
        words = [t.find_element(By.CLASS_NAME, "word").text for t in tokens]
        tags = [t.find_element(By.CLASS_NAME, "tag").text for t in tokens]
        confidences = [t.find_element(By.CLASS_NAME, "conf").text for t in tokens]
        assert words == expected["tokens"]
        assert tags == expected["tags"]
        assert confidences == [f"{c:.2f}" for c in expected["confidences"]]
        screenshot(browser, "serve_demo.png", tmp_path)

        classifier = nlptag.load(bundles["classification"])
        expected = classifier.predict(["w1 great w2"])[0]
        Select(browser.find_element(By.ID, "model")).select_by_value("sentiment")
        text.clear()
        text.send_keys("w1 great w2")
        browser.find_element(By.ID, "run").click()
        bars = wait_for(browser, "#result .bar", count=len(expected["probabilities"]))
        labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#result .label")]
        ranked = sorted(expected["probabilities"], key=expected["probabilities"].get, reverse=True)
        assert labels == ranked
        best = browser.find_elements(By.CSS_SELECTOR, "#result .bar.best")
        assert len(bars) == 2 and len(best) == 1 and labels[0] == expected["label"]
        screenshot(browser, "serve_demo_classifier.png", tmp_path)
