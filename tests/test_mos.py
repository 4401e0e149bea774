"""The MOS kit: blinding, bad-input reports, known-answer statistics, the widget and the HTML page.

Every rating here is synthetic and made inside the test, with a known answer.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srlib import cli, mos
from srlib.mos import rate

METHODS = ("SecretAlpha", "SecretBeta")  # names that must never reach what raters see
IMAGES = ("baby", "bird", "butterfly", "zebra")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """HR images and two fake x4 "SR outputs" (slightly different sizes, as real outputs can be)."""
    root = tmp_path_factory.mktemp("sr")
    rng = np.random.default_rng(0)
    for name in ("HR", *METHODS):
        (root / name).mkdir()
    for stem in IMAGES:
        hr = (rng.random((40, 36, 3)) * 255).astype(np.uint8)
        Image.fromarray(hr).save(root / "HR" / f"{stem}.png")
        Image.fromarray(hr[:, :, ::-1].copy()).save(root / METHODS[0] / f"{stem}.png")
        Image.fromarray(hr[:37, :, :] // 2).save(root / METHODS[1] / f"{stem}.jpg")  # 3 rows short
    return root


@pytest.fixture(scope="module")
def kit(folders, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "KIT"
    methods = {name: folders / name for name in METHODS}
    mos.build_kit(methods, folders / "HR", out, raters=4, seed=1, repeats=2, calibration=1)
    return out


def _rate(key: dict, rater: str, score_of, path: Path, order: list[str]) -> None:
    """Write one synthetic rater's CSV: ``score_of(info)`` gives the score of each item."""
    for position, item in enumerate(order, start=1):
        row = {"rater": rater, "item_id": item, "score": score_of(key["items"][item]), "time": "t",
               "seconds": "1.0", "order": position, "kit": key["fingerprint"]}  # fmt: skip
        mos.append_rating(path, row)


def _synthetic(kit: Path, tmp_path: Path, score_of) -> list[dict]:
    key, manifest = mos.load_key(kit), mos.load_kit(kit)
    for rater, order in manifest["orders"].items():
        _rate(key, rater, lambda info, rater=rater: score_of(rater, info), tmp_path / f"{rater}.csv", order)
    return mos.load_ratings(tmp_path, kit / "key.json")


# --------------------------------------------------------------------------------------------- the kit
def test_kit_layout_orders_and_blinding(kit):
    key, manifest = mos.load_key(kit), mos.load_kit(kit)
    assert key["fingerprint"] == manifest["fingerprint"] and set(key["items"]) == set(manifest["items"])
    kinds = [info["kind"] for info in key["items"].values()]
    n_versions = len(IMAGES) * (len(METHODS) + 2)  # methods plus the NN and HR references
    assert kinds.count("test") + kinds.count("reference") == n_versions
    assert kinds.count("repeat") == 2 and kinds.count("calibration") == 2
    for item, info in key["items"].items():
        assert len(item) == 8 and all(c in "0123456789abcdef" for c in item)
        if info["kind"] == "calibration":
            assert manifest["items"][item]["anchor"] == mos.REFERENCES[info["method"]]
    # nothing a rater sees names a method or an image
    public = (kit / "rate" / "kit.json").read_text() + (kit / "rate" / "index.html").read_text()
    for secret in (*METHODS, *IMAGES):
        assert secret not in public
    assert sorted(p.stem for p in (kit / "rate" / "images").iterdir()) == sorted(key["items"])
    # all versions of an image share one size (the shorter SR output sets it)
    sizes = {}
    for item, info in key["items"].items():
        with Image.open(kit / "rate" / "images" / f"{item}.png") as image:
            sizes.setdefault(info["image"], set()).add(image.size)
    assert all(s == {(36, 37)} for s in sizes.values())
    # every rater sees everything once, calibration first, a repeat after its first showing, own order
    orders = manifest["orders"]
    assert list(orders) == ["r01", "r02", "r03", "r04"]
    for order in orders.values():
        assert sorted(order) == sorted(key["items"])
        assert [key["items"][i]["kind"] for i in order[:2]] == ["calibration"] * 2
        for item, info in key["items"].items():
            if info["kind"] == "repeat":
                assert order.index(info["repeat_of"]) < order.index(item)
    assert len({tuple(order) for order in orders.values()}) == 4


def test_kit_is_seeded(folders, kit, tmp_path):
    methods = {name: folders / name for name in METHODS}
    same = mos.build_kit(methods, folders / "HR", tmp_path / "a", raters=4, seed=1, repeats=2)
    other = mos.build_kit(methods, folders / "HR", tmp_path / "b", raters=4, seed=2, repeats=2)
    first, second, third = mos.load_key(kit), mos.load_key(same), mos.load_key(other)
    assert (second["fingerprint"], second["items"]) == (first["fingerprint"], first["items"])
    assert third["fingerprint"] != first["fingerprint"]


def test_kit_with_lr_folder_and_embedded_images(folders, tmp_path):
    lr = tmp_path / "LR"
    lr.mkdir()
    for stem in IMAGES:  # a flat grey LR: its NN anchor must be flat grey too
        Image.new("RGB", (9, 10), (90, 90, 90)).save(lr / f"{stem}.png")
    methods = {name: folders / name for name in METHODS}
    key = mos.load_key(mos.build_kit(methods, folders / "HR", tmp_path / "k", lr=lr, embed=True, raters=1))
    nn = next(item for item, info in key["items"].items() if info["method"] == "NN")
    with Image.open(tmp_path / "k" / "rate" / "images" / f"{nn}.png") as image:
        assert image.size == (36, 37) and np.all(np.asarray(image) == 90)
    assert (tmp_path / "k" / "rate" / "index.html").read_text().count("data:image/png;base64,") == len(key["items"])


def test_kit_refuses_bad_folders(folders, kit, tmp_path):
    methods = {name: folders / name for name in METHODS}
    with pytest.raises(ValueError, match="already holds a kit"):
        mos.build_kit(methods, folders / "HR", kit)
    with pytest.raises(ValueError, match="reserved"):
        mos.build_kit({"HR": folders / "HR"}, folders / "HR", tmp_path / "k1")
    with pytest.raises(ValueError, match=r"(?s)no 'nothere'.*no 'nothere'"):
        mos.build_kit(methods, folders / "HR", tmp_path / "k2", images=["baby", "nothere"])
    with pytest.raises(FileNotFoundError):
        mos.build_kit({"x": tmp_path / "missing"}, folders / "HR", tmp_path / "k3")


# ------------------------------------------------------------------------------------------ bad input
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


# ------------------------------------------------------------------------------------------ statistics
def test_holm_matches_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert mos.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert mos.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert mos.holm([0.2]) == pytest.approx([0.2])


def test_constant_method_has_zero_width_and_better_method_wins(kit, tmp_path):
    rng = np.random.default_rng(0)

    def score(rater, info):
        if info["method"] == METHODS[0]:
            return 3  # constant
        if info["method"] == METHODS[1]:
            return int(rng.choice([4, 5]))  # clearly better
        return {"NN": 1, "HR": 5}[info["method"]]

    summary = mos.summarize(_synthetic(kit, tmp_path, score), n_boot=500)
    table = {row["method"]: row for row in summary.table}
    assert list(table) == [*METHODS, "NN", "HR"]
    alpha = table[METHODS[0]]
    assert alpha["mos"] == 3 and alpha["boot_low"] == alpha["boot_high"] == 3
    assert alpha["normal_low"] == alpha["normal_high"] == 3
    assert alpha["ratings"] == 4 * len(IMAGES) and alpha["raters"] == 4 and alpha["images"] == len(IMAGES)
    beta = table[METHODS[1]]
    assert beta["boot_low"] < beta["mos"] < beta["boot_high"] and beta["boot_low"] > 3.5
    (test,) = summary.tests
    assert test["pairs"] == 16 and test["better"] == METHODS[1] and test["p_holm"] < 1e-3
    overall = summary.consistency[-1]
    assert overall["rater"] == "all" and overall["calibration_NN"] == 1 and overall["calibration_HR"] == 5
    assert "| method |" in summary.markdown()


def test_equal_methods_are_not_significant_and_holm_applies(kit, tmp_path):
    def score(rater, info):  # both methods get the same scores (every difference is zero); NN 1, HR 5
        if info["method"] in mos.REFERENCES:
            return mos.REFERENCES[info["method"]]
        return 1 + (int(rater[1:]) + IMAGES.index(info["image"])) % 5

    summary = mos.summarize(_synthetic(kit, tmp_path, score), n_boot=200)
    (test,) = summary.tests
    assert test["nonzero"] == 0 and test["p"] == 1.0 and not test["significant"] and test["better"] == ""
    ratings = mos.load_ratings(tmp_path, kit)
    rows = mos.wilcoxon_holm(ratings, [*METHODS, "NN", "HR"])
    assert len(rows) == 6
    assert [row["p_holm"] for row in rows] == pytest.approx(mos.holm([row["p"] for row in rows]))


def test_bootstrap_over_raters_is_wider_than_over_ratings():
    # 6 raters with strong personal offsets: ratings by one rater are correlated
    raters = np.repeat(np.arange(6), 20)
    images = np.tile(np.arange(20), 6)
    scores = np.clip(3 + np.array([-2, -1, 0, 0, 1, 2])[raters] + (images % 2), 1, 5)
    low, high = mos.bootstrap_ci(scores, raters, images, n_boot=1000, seed=0)
    normal_low, normal_high = mos.normal_ci(scores)
    assert low < scores.mean() < high
    assert high - low > 1.5 * (normal_high - normal_low)
    assert mos.bootstrap_ci(scores, raters, images, n_boot=1000, seed=0) == (low, high)  # seeded


def test_zscore_and_consistency(kit, tmp_path):
    def score(rater, info):
        offset = {"r01": 0, "r02": 1, "r03": 2, "r04": 2}[rater]
        base = {"NN": 1, "HR": 3, METHODS[0]: 1, METHODS[1]: 2}[info["method"]]
        if info["kind"] == "repeat" and rater == "r04":
            base = 4 - base  # r04 contradicts themself on repeats
        return base + offset

    ratings = _synthetic(kit, tmp_path, score)
    z = [r for r in mos.zscore_ratings(ratings) if r["kind"] in mos.SUMMARIZED_KINDS]
    for rater in ("r01", "r02", "r03"):
        mine = np.array([r["score"] for r in z if r["rater"] == rater])
        assert mine.mean() == pytest.approx(0) and mine.std(ddof=1) == pytest.approx(1)
    summary = mos.summarize(ratings, zscore=True, n_boot=200)
    # after z-scoring, raters' offsets are gone: each method gets one value from every rater
    alpha = next(row for row in summary.table if row["method"] == METHODS[0])
    assert alpha["boot_high"] - alpha["boot_low"] == pytest.approx(0, abs=1e-9)
    rows = {row["rater"]: row for row in summary.consistency}
    assert rows["r01"]["repeat_pairs"] == 2 and rows["r01"]["repeat_agreement"] == 1
    assert rows["r04"]["repeat_mean_abs_diff"] > 0 and rows["r04"]["repeat_agreement"] < 1


def test_plot_and_written_summary(kit, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ratings = _synthetic(kit, tmp_path / "ratings", lambda rater, info: 2 + (info["method"] == "HR"))
    paths = mos.write_summary(mos.summarize(ratings, n_boot=100), tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == ["mos_consistency.csv", "mos_plot.png", "mos_summary.md", "mos_table.csv", "mos_tests.csv"]
    with open(tmp_path / "out" / "mos_table.csv") as handle:
        assert [row["method"] for row in csv.DictReader(handle)] == [*METHODS, "NN", "HR"]


# --------------------------------------------------------------------------------------------------- CLI
def test_cli_kit_and_summarize(folders, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", {"mos": "srlib.mos"})  # only this command, whatever the others do
    methods = [f"{name}={folders / name}" for name in METHODS]
    out = tmp_path / "KIT"
    assert (
        cli.main(["mos", "kit", "--methods", *methods, "--hr", str(folders / "HR"), "-o", str(out), "--raters", "2"])
        == 0
    )
    ratings = tmp_path / "ratings"
    _synthetic(out, ratings, lambda rater, info: 4 if info["method"] == METHODS[1] else 2)
    code = cli.main(["mos", "summarize", str(ratings), "--key", str(out / "key.json"), "--out", str(tmp_path / "s"),
                     "--boot", "100", "--zscore"])  # fmt: skip
    assert code == 0 and (tmp_path / "s" / "mos_table_z.csv").exists() and (tmp_path / "s" / "mos_plot_z.png").exists()
    assert "Wilcoxon" in capsys.readouterr().out
    with open(ratings / "r01.csv", "a") as handle:
        handle.write(f"r01,ffffffff,9,t,1,99,{mos.load_key(out)['fingerprint']}\n")
    assert cli.main(["mos", "summarize", str(ratings), "--key", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown item id 'ffffffff'" in err and "score '9'" in err and "r01.csv:" in err


# ------------------------------------------------------------------------------------------- the widget
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


# ------------------------------------------------------------------------------------- the HTML page
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


def test_reported_and_published_mos_are_labelled():
    rows = mos.reference_mos_rows()
    reported = {r["method"]: r["mos"] for r in rows if r["source"].startswith("original course report")}
    assert reported == {"EDSR": 4.0, "SRGAN": 4.3, "ESRGAN": 4.6}  # ../shared/REFERENCE.md section 1
    assert all("as reported" in r["source"] for r in rows if r["method"] in reported and r["set"] == "not reported")
    bsd100 = {r["method"]: r["mos"] for r in rows if r["set"] == "BSD100"}
    assert bsd100 == {"bicubic": 1.47, "SRResNet": 2.29, "SRGAN": 3.56, "HR": 4.46}  # section 5
    assert all("published" in r["source"] for r in rows if r["set"] == "BSD100")


# ------------------------------------------------------------------------------- what the kit's files leak
def _chunks(path: Path) -> list[bytes]:
    import struct

    data, tags, at = path.read_bytes(), [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        tags.append(data[at + 4 : at + 8])
        at += 12 + length
    return tags


def test_kit_images_carry_no_metadata_and_repeats_have_other_bytes(folders, tmp_path):
    from PIL import PngImagePlugin

    tagged = tmp_path / "Tagged"  # one method's outputs carry an ICC profile, a text chunk and EXIF
    tagged.mkdir()
    text = PngImagePlugin.PngInfo()
    text.add_text("Software", "method-that-must-stay-secret")
    for path in sorted((folders / METHODS[0]).iterdir()):
        with Image.open(path) as image:
            image.save(tagged / path.name, icc_profile=b"an ICC profile of one method", pnginfo=text,
                       exif=Image.Exif())  # fmt: skip
    methods = {"Tagged": tagged, METHODS[1]: folders / METHODS[1]}
    kit = tmp_path / "KIT"
    key = mos.load_key(mos.build_kit(methods, folders / "HR", kit, raters=2, seed=3, repeats=3, calibration=2))
    images = kit / "rate" / "images"
    for item in key["items"]:
        assert set(_chunks(images / f"{item}.png")) == {b"IHDR", b"IDAT", b"IEND"}, item
    assert len({(images / f"{item}.png").read_bytes() for item in key["items"]}) == len(key["items"])
    first_of = {}  # (method, image) -> the test or reference item
    for item, info in key["items"].items():
        if info["kind"] in mos.SUMMARIZED_KINDS:
            first_of[info["method"], info["image"]] = item
    others = [(item, info) for item, info in key["items"].items() if info["kind"] in ("repeat", "calibration")]
    assert len(others) == 3 + 2 * 2
    for item, info in others:
        twin = first_of[info["method"], info["image"]]
        assert (images / f"{item}.png").read_bytes() != (images / f"{twin}.png").read_bytes()
        with Image.open(images / f"{item}.png") as a, Image.open(images / f"{twin}.png") as b:
            assert np.array_equal(np.asarray(a), np.asarray(b))


def test_kit_images_are_upright(folders, tmp_path):
    turned = tmp_path / "Turned"
    turned.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    for path in sorted((folders / METHODS[0]).iterdir()):
        with Image.open(path) as image:  # stored turned a quarter counterclockwise
            Image.fromarray(np.rot90(np.asarray(image), k=1).copy()).save(turned / path.name, exif=exif)
    key = mos.load_key(mos.build_kit({"Turned": turned}, folders / "HR", tmp_path / "K", raters=1, repeats=0))
    item = next(i for i, info in key["items"].items() if info["method"] == "Turned" and info["image"] == "baby")
    with Image.open(tmp_path / "K" / "rate" / "images" / f"{item}.png") as image, \
            Image.open(folders / METHODS[0] / "baby.png") as original:  # fmt: skip
        assert np.array_equal(np.asarray(image), np.asarray(original))


# ------------------------------------------------------------------------- what is accepted, but noted
def _write_rows(path: Path, rows: list[dict]) -> Path:
    for row in rows:
        mos.append_rating(path, row)
    return path


def _rows(key: dict, rater: str, items: list[str], score_of) -> list[dict]:
    return [{"rater": rater, "item_id": item, "score": score_of(key["items"][item]), "time": "t", "seconds": "1",
             "order": n, "kit": key["fingerprint"]} for n, item in enumerate(items, start=1)]  # fmt: skip


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
    _write_rows(tmp_path / "r01.csv", _rows(key, "r01", orders["r01"], truth))  # a good rater
    _write_rows(tmp_path / "r02.csv", _rows(key, "r02", orders["r02"][:5], truth))  # stopped after 5
    _write_rows(tmp_path / "r03.csv", _rows(key, "r03", orders["r03"], lambda info: 4))  # one score throughout
    _write_rows(tmp_path / "r04.csv", _rows(key, "r04", orders["r04"], lambda info: 6 - truth(info)))  # reversed
    _write_rows(tmp_path / "zz.csv", _rows(key, "zz", orders["r01"], truth))  # not one of the kit's raters
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


def test_a_method_without_ratings_is_noted_not_dropped_silently(kit, tmp_path):
    key, orders = mos.load_key(kit), mos.load_kit(kit)["orders"]
    kept = [item for item in orders["r01"] if key["items"][item]["method"] != METHODS[1]]
    ratings = mos.load_ratings(_write_rows(tmp_path / "r01.csv", _rows(key, "r01", kept, lambda info: 3)), key)
    summary = mos.summarize(ratings, n_boot=50, methods=list(key["methods"]))
    assert [row["method"] for row in summary.table] == [METHODS[0], "NN", "HR"]
    assert f"method '{METHODS[1]}' has no ratings" in "\n".join(summary.notes)


def test_cli_summarize_refuses_to_overwrite_a_summary(kit, tmp_path, capsys):
    key = mos.load_key(kit)
    ratings = _write_rows(tmp_path / "r" / "r01.csv", _rows(key, "r01", mos.load_kit(kit)["orders"]["r01"],
                                                            lambda info: 3))  # fmt: skip
    args = ["mos", "summarize", str(ratings), "--key", str(kit), "--boot", "20", "--out", str(tmp_path / "s")]
    assert cli.main(args) == 0
    assert cli.main(args) == 2 and "already holds a summary" in capsys.readouterr().err
    assert cli.main([*args, "--overwrite"]) == 0
