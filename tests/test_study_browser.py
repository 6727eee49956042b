"""``caae-tf study serve`` in a real headless browser (Chromium + chromedriver from Debian's packages, driven by
Selenium): consent and demographics, all 36 rating pages, a reload half-way, the thank-you page; the stored
answers must be exactly the ones clicked.

Marked ``browser`` but part of the default run (CI installs chromium and chromium-driver in ``.ci/run``);
skips with the reason when no Chromium/chromedriver is installed. ``CAAE_STUDY_SCREENSHOT=PATH`` also saves
a screenshot of the first rating page there (used for the README's docs/study_page.png).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil

import pytest

from caae_tf import labels as L
from caae_tf.study import DB_FILE
from caae_tf.study.build import build_study
from caae_tf.study.db import StudyDB
from caae_tf.study.files import load_study

pytestmark = pytest.mark.browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)


def _find(names, extra=()):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    for p in extra:
        if os.path.exists(p):
            return p
    return None


def chrome_paths() -> tuple[str, str]:
    browser = os.environ.get("CAAE_CHROMIUM") or _find(BROWSERS, ("/usr/lib/chromium/chromium",))
    driver = os.environ.get("CAAE_CHROMEDRIVER") or _find(DRIVERS, ("/usr/lib/chromium/chromedriver",))
    if not browser or not driver:
        pytest.skip("headless browser test needs Chromium and chromedriver (Debian: apt-get install chromium "
                    "chromium-driver; .ci/run installs them): "
                    f"chromium={'found' if browser else 'missing'}, chromedriver={'found' if driver else 'missing'}")
    if importlib.util.find_spec("selenium") is None:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    return browser, driver


@pytest.fixture()
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, drv = chrome_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=900,1200", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=drv), options=opts)
    d.set_page_load_timeout(60)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture()
def study_dir(tmp_path):
    from data_prep.synthetic import generate_dataset

    generate_dataset(tmp_path / "real", 6, 6, size=64, seed=0, mode="discrete", progress=False)
    generate_dataset(tmp_path / "fake", 6, 6, size=64, seed=1, mode="discrete", progress=False, first_identity=50)
    out = tmp_path / "study"
    build_study(str(out), real=str(tmp_path / "real"), generated=str(tmp_path / "fake"), per_emotion=3, seed=0)
    return str(out)


def test_survey_end_to_end_in_headless_chromium(driver, study_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from caae_tf.study.simulate import ServerProcess

    def replaced(old):
        """Wait condition: ``old`` has left the document. Chromium reports a node caught mid-navigation
        either as stale or as "Node with given id does not belong to the document" (a plain
        WebDriverException, which EC.staleness_of does not expect)."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

        def gone(_driver) -> bool:
            try:
                old.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                if "does not belong to the document" in str(exc):
                    return True
                raise
            return False

        return gone

    def submit(button_id: str) -> None:
        """Click a submit button and wait until the next page has replaced this one."""
        old = driver.find_element(By.TAG_NAME, "html")
        driver.find_element(By.ID, button_id).click()
        WebDriverWait(driver, 60).until(replaced(old))

    study = load_study(study_dir)
    emotions = study.emotions
    rng = random.Random(0)
    clicked: dict[str, dict[str, int]] = {}
    with ServerProcess(study_dir) as server:
        driver.get(server.url + "/")
        assert "agree to take part" in driver.page_source
        driver.find_element(By.ID, "consent").click()
        driver.find_element(By.ID, "age").send_keys("27")
        driver.find_element(By.ID, "gender-diverse").click()
        submit("start")
        link = driver.find_element(By.ID, "personal-link").text
        assert link.startswith(server.url + "/p/")
        for k in range(len(study.items)):
            assert driver.find_element(By.ID, "progress").text == f"Image {k + 1} of {len(study.items)}"
            # the image really loaded (decoded by the browser at its natural size)
            img = driver.find_element(By.ID, "face")
            assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 64
            item = driver.find_element(By.NAME, "item").get_attribute("value")
            if k == 0 and os.environ.get("CAAE_STUDY_SCREENSHOT"):
                driver.save_screenshot(os.environ["CAAE_STUDY_SCREENSHOT"])
            choice = {e: rng.randint(1, 5) for e in emotions}
            for e, v in choice.items():
                driver.find_element(By.ID, f"r-{e}-{v}").click()
            clicked[item] = choice
            submit("next")
            if k == 17:  # come back later with the personal link: continues at image 19
                driver.get("about:blank")
                driver.get(link)
                assert driver.find_element(By.ID, "progress").text == f"Image 19 of {len(study.items)}"
        assert driver.find_element(By.ID, "done").text == "Thank you!"
        # an incomplete form is not submitted (the browser enforces `required`; nothing is stored)
        driver.get(server.url + "/")
        driver.find_element(By.ID, "start").click()
        assert "/p/" not in driver.current_url
    db = StudyDB(os.path.join(study_dir, DB_FILE), emotions)
    assert db.counts() == {"participants": 1, "completed": 1, "answers": 36, "ratings": 216}
    stored: dict[str, dict[str, int]] = {}
    for r in db.ratings():
        stored.setdefault(r["item_id"], {})[r["emotion"]] = r["likert"]
        assert r["age"] == 27 and r["gender"] == "diverse"
    assert stored == clicked
    assert set(stored) == set(study.items) and list(L.CGAN_EMOTIONS) == emotions
