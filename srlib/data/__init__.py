"""Data: known datasets and where they live, downloads, the embedded ``mini`` set, paired LR/HR samples.

- ``registry``: ``DATASETS`` (layouts and sources), ``resolve_dataset`` / ``resolve_lr`` (names -> folders over
  the data roots), ``fetch_dataset`` (download and extract a known set);
- ``download``: the URL downloader (resumes, checks digests) and the archive extractor (nothing outside the root);
- ``mini``: ``build_mini``, the offline default set made from photographs inside installed packages;
- ``degrade``: how LR is made from HR (bicubic, the Track 1 stand-in, RealSR noise, Real-ESRGAN second order);
- ``dataset``: ``SRDataset``, LR/HR pairs from folders or an on-the-fly degradation;
- ``cli``: ``srlib data list/fetch/mini``.

The names below are the ones callers use as ``srlib.data.NAME``.
"""

from srlib.data.dataset import SRDataset, find_lr_partner
from srlib.data.mini import MINI_SCALES, MINI_SOURCES, MINI_VERSION, build_mini
from srlib.data.registry import DATASETS, Known, fetch_dataset, resolve_dataset, resolve_lr
from srlib.utils import data_roots  # defined in srlib.utils; notebook 01 uses srlib.data's

__all__ = [
    "DATASETS",
    "Known",
    "MINI_SCALES",
    "MINI_SOURCES",
    "MINI_VERSION",
    "SRDataset",
    "build_mini",
    "data_roots",
    "fetch_dataset",
    "find_lr_partner",
    "resolve_dataset",
    "resolve_lr",
]
