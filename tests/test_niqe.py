"""srlib.niqe: the published model reproduces MATLAB's NIQE of baboon; fetching it is pinned and says what to do
offline; a fitted model prefers sharp images to blurred ones."""

import io
import tarfile

import numpy as np
import pytest
import skimage.data

from srlib import niqe as niqe_module
from srlib.data import download
from srlib.imresize import imresize, modcrop
from srlib.io import read_image
from srlib.niqe import fit_niqe, niqe


@pytest.fixture(scope="module")
def official_params(unavailable) -> bytes:
    """The published parameters' bytes (fetched into the user's cache once): skip without them, fail on CI."""
    try:
        return niqe_module.fetch_official(verbose=False).read_bytes()
    except RuntimeError as error:
        unavailable(f"official NIQE parameters unavailable: {error}")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_official_niqe_reproduces_matlab_on_baboon(benchmarks_dir, official_params):
    """MATLAB R2021a gives NIQE 5.72957338 for BasicSR's ``tests/data/baboon.png`` (Y channel, no crop):
    published in the docstring of ``calculate_niqe`` in ``basicsr/metrics/niqe.py`` (basicsr 1.4.2, the
    archive srlib takes the parameters from), beside BasicSR's own port's 5.7295763. Set14's baboon (500x480)
    is that image: BasicSR's code, run by hand on the Set14 file here, gives 5.7295726 (4e-6 from its
    published value). srlib computes in float64 and gives 5.72996, within 4e-4 of MATLAB (BasicSR's code
    in float64 gives 5.72996 too; its float32 run is what lands on MATLAB's digits: the local variance of
    one nearly flat block rounds differently)."""
    baboon = read_image(benchmarks_dir / "Set14" / "HR" / "baboon.png")
    assert baboon.shape == (480, 500, 3)
    value = niqe(baboon)
    assert value == pytest.approx(5.72957338, abs=1e-3)
    assert niqe((baboon * 255).round().astype(np.uint8)) == pytest.approx(value, abs=1e-9)  # uint8 alike
    assert niqe(baboon, convert="gray") != pytest.approx(value, abs=1e-3)  # rgb2gray: another input
    blurred = imresize(imresize(modcrop(baboon, 4), 1 / 4), 4).clip(0, 1)
    assert niqe(blurred) > value + 1  # bicubic x4 looks far less natural


def test_the_published_model_is_what_the_metric_expects(official_params):
    model = niqe_module.official_model(verbose=False)
    assert model["name"] == "official" and model["mu"].shape == (36,) and model["cov"].shape == (36, 36)
    with np.load(niqe_module.official_params_path()) as params:  # the MATLAB release's 7x7 window
        assert np.allclose(params["gaussian_window"], niqe_module.gaussian_window(), atol=1e-15, rtol=0)


def test_fetch_reads_only_the_pinned_member_and_caches_it(cache, monkeypatch, official_params):
    """The package-index path with pip replaced by a synthetic source archive; the member's hash is checked."""
    member = niqe_module._BASICSR_SDIST["members"]["params"][0]
    calls = []

    def fake_pip(entry, dest, verbose):
        calls.append(entry)
        archive = dest / entry.package_file
        with tarfile.open(archive, "w:gz") as tar:
            for name, data in ((member, official_params), ("basicsr-1.4.2/setup.py", b"raise SystemExit")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return archive

    monkeypatch.setattr(download, "_pip_download", fake_pip)
    path = niqe_module.fetch_official(verbose=False)
    assert path == cache / "niqe_pris_params.npz" and path.read_bytes() == official_params
    assert calls[0].package == "basicsr==1.4.2" and "--no-binary=basicsr" in calls[0].pip_args
    assert niqe_module.fetch_official(verbose=False) == path and len(calls) == 1  # cached: no second download
    path.write_bytes(official_params[:-1])  # damaged cache: noticed
    with pytest.raises(RuntimeError, match="delete it"):
        niqe_module.fetch_official()


def test_a_tampered_member_is_refused(cache, monkeypatch):
    def fake_pip(entry, dest, verbose):
        archive = dest / entry.package_file
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo(entry.members["params"][0])
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
        return archive

    monkeypatch.setattr(download, "_pip_download", fake_pip)
    with pytest.raises(RuntimeError, match="expected sha256"):
        niqe_module.fetch_official()
    assert not (cache / "niqe_pris_params.npz").exists()


def test_offline_without_cache_says_what_to_do(cache, monkeypatch):
    def offline(entry, dest, verbose):
        raise RuntimeError("pip download basicsr==1.4.2 failed (is the package index reachable?): no network")

    monkeypatch.setattr(download, "_pip_download", offline)
    with pytest.raises(RuntimeError, match=r"not cached at .*niqe_pris_params\.npz.*package index is reachable.*fit"):
        niqe(np.zeros((192, 192)))


def test_niqe_prefers_sharp_natural_images_under_a_fitted_model():
    photos = [getattr(skimage.data, n)().astype(np.float32) / 255 for n in ("astronaut", "chelsea", "rocket")]
    model = fit_niqe(photos)
    assert model["name"] == "fitted" and model["images"] == 3
    assert model["mu"].shape == (36,) and model["cov"].shape == (36, 36)
    hr = modcrop(skimage.data.coffee().astype(np.float32) / 255, 4)
    blurred = imresize(imresize(hr, 1 / 4), 4).clip(0, 1)
    assert niqe(hr, model) < niqe(blurred, model)
    assert niqe(hr, model, crop_border=4) != niqe(hr, model)  # the crop shifts the 96x96 block grid
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(hr[:100, :100], model)
    with pytest.raises(ValueError, match="'official' or a dict"):
        niqe(hr, "fitted")
