"""srlib.mos.rate: rating files (every problem listed by file and row, what is accepted but noted), the
notebook widget and the HTML page in a headless browser.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mos_helpers import rating_rows, write_rows

from srlib import mos
from srlib.mos import rate


def test_load_ratings_reports_every_problem_by_file_and_row(kit, tmp_path):
    key = mos.load_key(kit)
    good_id, other_id = sorted(key["items"])[:2]
    fp = key["fingerprint"]
    first = tmp_path / "first.csv"
    rows = [
        ("r01", good_id, "3", fp),  # row 2: fine
        ("r01", "deadbeef", "3", fp),  # row 3: unknown id
        ("r01", other_id, "6", fp),  # row 4: score out of range
        ("r02", other_id, "2.5", fp),  # row 5: not an integer
        ("r01", good_id, "4", fp),  # row 6: duplicate of row 2
        ("r03", other_id, "4", "0123456789abcdef"),  # row 7: another kit
    ]
    for rater, item, score, kit_fp in rows:
        mos.append_rating(first, dict(rater=rater, item_id=item, score=score, time="t", seconds=1, order=1, kit=kit_fp))
    second = tmp_path / "second.csv"
    mos.append_rating(second, dict(rater="r01", item_id=good_id, score=5, time="t", seconds=1, order=1, kit=fp))
    with pytest.raises(ValueError) as error:
        mos.load_ratings([first, second], kit)
    message = str(error.value)
    assert "6 problem(s)" in message
    for expected in (
        f"{first}:3: unknown item id 'deadbeef'",
        f"{first}:4: score '6' is not an integer 1-5",
        f"{first}:5: score '2.5' is not an integer 1-5",
        f"{first}:6: duplicate answer of rater 'r01' for item '{good_id}' (first at {first}:2)",
        f"{first}:7: kit fingerprint '0123456789abcdef' is not this key's '{fp}'",
        f"{second}:2: duplicate answer of rater 'r01' for item '{good_id}' (first at {first}:2)",
    ):
        assert expected in message
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("who,what\nr01,x\n")
    with pytest.raises(ValueError, match="missing columns"):
        mos.load_ratings(bad_header, kit)


def test_a_short_row_is_a_listed_problem_not_a_traceback(kit, tmp_path):
    key = mos.load_key(kit)
    item = sorted(key["items"])[0]
    path = tmp_path / "short.csv"
    path.write_text(",".join(mos.RATING_COLUMNS) + f"\nr01,{item},3\nr01,{item},3,t,1,1,{key['fingerprint']},extra\n")
    with pytest.raises(ValueError, match=r"(?s)short\.csv:2: 3 fields where the header has 7.*short\.csv:3: 8 fields"):
        mos.load_ratings(path, key)


def test_empty_files_and_odd_raters_are_noted(kit, tmp_path):
    key, manifest = mos.load_key(kit), mos.load_kit(kit)
    orders = manifest["orders"]

    def truth(info):
        return {"NN": 1, "HR": 5}.get(info["method"], 3)

    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text(",".join(mos.RATING_COLUMNS) + "\n")
    with pytest.raises(ValueError, match="no ratings in"):
        mos.load_ratings(tmp_path, key)
    write_rows(tmp_path / "r01.csv", rating_rows(key, "r01", orders["r01"], truth))  # a good rater
    write_rows(tmp_path / "r02.csv", rating_rows(key, "r02", orders["r02"][:5], truth))  # stopped after 5
    write_rows(tmp_path / "r03.csv", rating_rows(key, "r03", orders["r03"], lambda info: 4))  # one score throughout
    write_rows(tmp_path / "r04.csv", rating_rows(key, "r04", orders["r04"], lambda info: 6 - truth(info)))  # reversed
    write_rows(tmp_path / "zz.csv", rating_rows(key, "zz", orders["r01"], truth))  # not one of the kit's raters
    ratings = mos.load_ratings(tmp_path, key)
    notes = "\n".join(ratings.notes)
    total = len(key["items"])
    for expected in ("empty.csv: empty file", "header.csv: a header and no ratings", "raters ['zz'] are not among",
                     f"'r02' rated 5 of {total} items", "'r03' gave every item the same score (4)",
                     "'r04' scored the NN anchor 5 and HR 1"):  # fmt: skip
        assert expected in notes, expected
    assert "'r01'" not in notes
    summary = mos.summarize(ratings, n_boot=50)
    assert summary.notes == ratings.notes and "- rater 'r04' scored" in summary.markdown()


def test_notebook_widget_saves_every_answer_and_resumes(kit, tmp_path):
    csv_path = tmp_path / "widget.csv"
    rater = mos.NotebookRater(kit, "r02", csv_path)
    order = mos.load_kit(kit)["orders"]["r02"]
    assert "Calibration: this image is a 1" in rater.hint.value and rater.image.value
    rater.buttons[0].click()  # score 1
    rater.keys.value = "5"  # key press in the shortcut box
    rater.keys.value = "x"  # other keys are ignored
    assert len(rate._read_rows(csv_path)) == 2
    resumed = mos.NotebookRater(kit, "r02", csv_path)
    assert resumed.position == 2 and "image 3 of" in resumed.progress.value
    for _ in range(len(order) - 2):
        resumed.answer(3)
    assert resumed.done and "all" in resumed.progress.value
    rows = rate._read_rows(csv_path)
    assert list(rows[0]) == mos.RATING_COLUMNS
    assert [row["item_id"] for row in rows] == order and [row["score"] for row in rows[:3]] == ["1", "5", "3"]
    assert [int(row["order"]) for row in rows] == list(range(1, len(order) + 1))
    assert len(mos.load_ratings(csv_path, kit)) == len(order)
    with pytest.raises(ValueError, match="not in this kit"):
        mos.NotebookRater(kit, "nobody", csv_path)
    with pytest.raises(ValueError, match="another kit or rater"):
        mos.NotebookRater(kit, "r03", csv_path)


def _browser(unavailable) -> tuple[str, str]:
    """Paths of chromium and chromedriver; skip locally, fail on CI (.ci/run installs them) when missing."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the python package selenium (pip install selenium)")
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        missing.append("chromium and chromedriver (apt-get install -y chromium chromium-driver)")
    if missing:
        unavailable("HTML rater page not tested in a browser: missing " + " and ".join(missing))
    return chromium, driver


def _serve(folder: Path) -> str:
    """Serve ``folder`` over HTTP on a free local port for the rest of the session; returns the base URL.

    Raters open the page from disk, but headless Chromium loses file:// localStorage across a reload about
    1 time in 15 (measured; an empty store after the reload), which would test Chromium, not the page."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_html_page_in_headless_chromium(kit, tmp_path, unavailable):
    chromium, driver_path = _browser(unavailable)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        wait = WebDriverWait(browser, 10)
        page = f"{_serve(kit)}/rate/index.html"

        def progress(n):  # "image n of ..." is on screen and its picture has loaded
            wait.until(lambda b: f"image {n} of" in b.find_element(By.ID, "progress").text)
            wait.until(lambda b: b.execute_script("return document.getElementById('img').complete && ready"))

        browser.get(page + "#r03")
        browser.find_element(By.ID, "begin").click()
        progress(1)
        assert "this image is a 1" in browser.find_element(By.ID, "hint").text
        for n, key in enumerate("152", start=1):
            ActionChains(browser).send_keys(key).perform()
            progress(n + 1)
        # reload: the answers were saved in the browser and rating resumes at the 4th image
        browser.refresh()
        wait.until(lambda b: "3 answers already saved" in b.find_element(By.ID, "saved").text)
        browser.find_element(By.ID, "begin").click()
        progress(4)
        ActionChains(browser).send_keys("4").perform()
        progress(5)
        browser.find_element(By.ID, "download-partial").click()
        fingerprint = mos.load_key(kit)["fingerprint"]
        target = downloads / f"mos_r03_{fingerprint}.csv"
        wait.until(lambda _: target.exists() and target.stat().st_size > 0)
    finally:
        browser.quit()
    rows = rate._read_rows(target)
    order = mos.load_kit(kit)["orders"]["r03"]
    assert list(rows[0]) == mos.RATING_COLUMNS
    assert [row["item_id"] for row in rows] == order[:4]
    assert [row["score"] for row in rows] == ["1", "5", "2", "4"]
    assert [row["order"] for row in rows] == ["1", "2", "3", "4"]
    assert {row["rater"] for row in rows} == {"r03"} and {row["kit"] for row in rows} == {fingerprint}
    ratings = mos.load_ratings(target, kit)  # the page's CSV passes the same checks as the widget's
    assert [r["kind"] for r in ratings[:2]] == ["calibration", "calibration"]
