"""The page of `serve` in a real browser: headless Chromium draws digits with the mouse and a finger.

Debian's `chromium` and `chromium-driver` packages (installed by .ci/run), driven by Selenium through
that driver: nothing is downloaded at test time.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MNIST_DIR, as_users_have_them, requires_mnist
from serving import serving

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    requires_mnist,  # a real model, so that a drawn digit gets its class
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER and importlib.util.find_spec("selenium")),
        reason="needs Chromium, its driver and selenium: apt-get install -y chromium chromium-driver; "
        "pip install selenium (in the dev extra)",
    ),
]
SEVEN = [(-60, -70), (60, -70), (-10, 80)]  # a stroke along the top, then down to the bottom left
ONE = [(0, -90), (0, 90)]


@pytest.fixture(scope="module")
def page(mnist_ckpt: Path) -> Iterator[Any]:
    """Chromium with the page of a served MNIST model open."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager, should it be asked anything, fetches nothing
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for the last test
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=820,640"):
        options.add_argument(arg)  # no sandbox: CI runs as root, where Chromium's sandbox cannot start
    with serving(mnist_ckpt) as base:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
        try:
            driver.get(base + "/")
            _wait(driver, lambda d: len(d.find_elements("css selector", "#bars li")) == 10)
            yield driver
        finally:
            driver.quit()


def _wait(driver: Any, until: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(until)


def _answer(driver: Any, answers_before: int) -> str:
    """The predicted class shown once the page has its answer to the finished drawing."""
    script = "return [document.body.dataset.busy, Number(document.body.dataset.answers)]"
    _wait(driver, lambda d: (lambda s: s[0] == "0" and s[1] > answers_before)(d.execute_script(script)))
    return driver.find_element("id", "prediction").text


def _answers(driver: Any) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.answers)"))


def _draw(driver: Any, points: list[tuple[int, int]], kind: str) -> None:
    """One stroke through `points` (offsets from the canvas's centre) with a mouse or a finger."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    canvas = driver.find_element("id", "canvas")
    finger = PointerInput(interaction.POINTER_TOUCH, "finger") if kind == "touch" else None
    actions = ActionBuilder(driver, mouse=finger, duration=25)  # a mouse unless a finger; 25 ms a move
    pointer = actions.pointer_action
    pointer.move_to(canvas, *points[0]).pointer_down()
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        for step in range(1, 9):  # several moves a segment, as a hand would make
            pointer.move_to(canvas, x0 + (x1 - x0) * step // 8, y0 + (y1 - y0) * step // 8)
    pointer.pointer_up()
    actions.perform()


def test_a_digit_drawn_with_the_mouse_then_cleared(page: Any) -> None:
    before = _answers(page)
    _draw(page, ONE, "mouse")
    assert _answer(page, before) == "1"
    tops = page.find_elements("css selector", "#bars li.top")
    assert len(tops) == 1 and tops[0].text.startswith("1")
    page.find_element("id", "clear").click()
    assert page.find_element("id", "prediction").text == "?"
    assert page.find_elements("css selector", "#bars li.top") == []


def test_a_digit_drawn_with_a_finger(page: Any) -> None:
    page.find_element("id", "clear").click()
    before = _answers(page)
    _draw(page, SEVEN, "touch")
    assert _answer(page, before) == "7"
    assert "trained on mnist" in page.find_element("id", "about").text
    if os.environ.get("SERVE_SCREENSHOT"):  # README's picture: SERVE_SCREENSHOT=docs/serve.png pytest ...
        page.save_screenshot(os.environ["SERVE_SCREENSHOT"])


def test_a_photo_and_nothing_fetched_from_elsewhere(page: Any, tmp_path: Path) -> None:
    from mnist_lightning.data.idx import load_idx_dir

    _, test = load_idx_dir(MNIST_DIR)
    photo = tmp_path / "two.jpg"
    as_users_have_them(test.images[1].numpy(), 1).save(photo)
    before = _answers(page)
    page.find_element("id", "file").send_keys(str(photo))
    assert _answer(page, before) == str(int(test.labels[1]))
    base = page.current_url.rstrip("/")
    fetched = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(name.startswith(base) for name in fetched), fetched
    logs = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert logs == [], logs  # no script error, no refused resource
