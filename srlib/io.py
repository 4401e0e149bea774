"""Image files in and out: one float convention, every odd file handled or named in the error.

The library's convention is numpy HWC float32 RGB in [0, 1] (``read_image``). Files that are not 8-bit RGB
are converted with a one-line warning: grayscale is replicated to RGB, an alpha channel is dropped, a
palette is expanded, 16-bit values are scaled to [0, 1] (float32 keeps their precision). Inference that
must give back what it got (keep the alpha channel, write 16 bits) uses ``load_image`` / ``write_image``,
which keep the native channels (1, 3 or 4) and bit depth (pypng writes the 16-bit PNGs).

Readers: Pillow for everything, except TIFF (tifffile, which keeps 16-bit colour) and 16-bit colour PNG
(Pillow reads those as 8-bit; pypng keeps all 16 bits). Pillow-read files are turned upright as their EXIF
orientation says (phone photos), as a viewer shows them. A header that claims more pixels than Pillow's
decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, twice over) is refused before anything is decoded.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly inside ``folder`` (by extension, any case), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an image as it is: (HWC float32 in [0, 1] with C in {1, 3, 4}, bit depth 8 or 16)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            _check_size(path)
            array = _read_tiff(path)
        elif _png_bit_depth(path) == 16:
            _check_size(path)
            array = _read_png16(path)
        else:
            array = _read_pillow(path)
    except Image.DecompressionBombError as error:
        raise ValueError(
            f"{path}: not read: {error} If the image is genuine, raise PIL.Image.MAX_IMAGE_PIXELS first."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, zlib.error, struct.error) as error:
        raise ValueError(f"{path}: not a readable image ({type(error).__name__}: {error})") from error
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 2:  # grey + alpha -> RGBA, so channels are always 1, 3 or 4
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    if array.dtype == np.uint8:
        return (array.astype(np.float32) / 255.0), 8
    if array.dtype == np.uint16:
        return (array.astype(np.float32) / 65535.0), 16
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(array.astype(np.float32), 0.0, 1.0), 16
    raise ValueError(f"{path}: unsupported pixel type {array.dtype}")


def read_image(path: str | os.PathLike, mode: str = "rgb") -> np.ndarray:
    """Read an image as HWC float32 RGB in [0, 1] (``mode="rgb"``), converting odd files with a warning.

    ``mode="keep"`` returns the native channels (1, 3 or 4) without warnings; see ``load_image``.
    Raises ValueError naming the file when it is corrupt, truncated or not an image.
    """
    array, bit_depth = load_image(path)
    if mode == "keep":
        return array
    if mode != "rgb":
        raise ValueError(f"mode must be 'rgb' or 'keep', got {mode!r}")
    name = Path(path).name
    notes = []
    if bit_depth == 16:
        notes.append("16-bit values scaled to [0, 1]")
    if array.shape[2] == 1:
        notes.append("grayscale replicated to RGB")
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        notes.append("alpha channel dropped")
        array = array[:, :, :3]
    if notes:
        warnings.warn(f"{name}: {'; '.join(notes)}", stacklevel=2)
    return np.ascontiguousarray(array)


def write_image(path: str | os.PathLike, array, bit_depth: int = 8) -> Path:
    """Write HWC / HW (numpy) or CHW / 1CHW (torch) values in [0, 1] as an 8- or 16-bit image.

    1, 3 or 4 channels. 16 bits need PNG or TIFF. Values are clipped to [0, 1] and rounded.
    """
    path = Path(path)
    if isinstance(array, torch.Tensor):
        array = to_numpy(array)
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"write_image needs HWC with 1, 3 or 4 channels, got shape {array.shape}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise ValueError(f"{path}: unknown image extension (use one of {', '.join(IMAGE_EXTENSIONS)})")
    peak = 255 if bit_depth == 8 else 65535
    values = np.round(np.clip(array, 0.0, 1.0) * peak).astype(np.uint8 if bit_depth == 8 else np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, values[:, :, 0] if values.shape[2] == 1 else values)
    elif bit_depth == 16:
        if suffix != ".png":
            raise ValueError(f"{path}: 16-bit images need .png or .tif")
        _write_png16(path, values)
    else:
        if suffix in (".jpg", ".jpeg") and values.shape[2] == 4:
            raise ValueError(f"{path}: JPEG has no alpha channel; write RGBA as .png")
        Image.fromarray(values[:, :, 0] if values.shape[2] == 1 else values).save(path)
    return path


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """numpy HWC (or HW) -> torch float32 1CHW, sharing nothing with the input."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).unsqueeze(0)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """torch 1CHW or CHW -> numpy HWC float32, clipped to [0, 1]."""
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    if tensor.ndim != 3:
        raise ValueError(f"to_numpy needs CHW or 1CHW, got shape {tuple(tensor.shape)}")
    return tensor.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


# --- readers and the 16-bit PNG writer -------------------------------------------------------------


def _check_size(path: Path) -> None:
    """Let Pillow judge the header's size (its decompression-bomb check) for the readers that have none."""
    try:
        with Image.open(path):
            pass
    except (OSError, ValueError, SyntaxError):
        pass  # not Pillow's to read: the reader itself says what is wrong


def _read_pillow(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()  # decode now, so a truncated file fails here
        ImageOps.exif_transpose(image, in_place=True)  # upright, as a viewer shows it; no-op without EXIF
        mode = image.mode
        if mode == "P" or mode == "PA":
            image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
        elif mode == "1":
            image = image.convert("L")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            image = image.convert("RGB")
        array = np.asarray(image)
    if mode.startswith("I"):  # 16-bit grey ("I;16", "I;16B", or "I" for 32-bit ints holding 16-bit data)
        if array.min() < 0 or array.max() > 65535:
            raise ValueError(f"integer values outside 0..65535 in mode {mode}")
        array = array.astype(np.uint16)
    elif mode == "F":
        array = array.astype(np.float32)
    return array


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    array = tifffile.imread(path)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 2, 3, 4):
        array = array.transpose(1, 2, 0)  # planar CHW TIFF
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] > 4):
        raise ValueError(f"unsupported TIFF layout {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return array


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth in a PNG header (byte 24), or None for other files."""
    with open(path, "rb") as f:
        head = f.read(25)
    if len(head) == 25 and head[:8] == b"\x89PNG\r\n\x1a\n":
        return head[24]
    return None


def _read_png16(path: Path) -> np.ndarray:
    try:
        import png  # pypng
    except ImportError:  # Pillow reads 16-bit colour PNG as 8-bit: usable, but say what was lost
        warnings.warn(f"{path.name}: read as 8-bit (pip install pypng to keep 16 bits)", stacklevel=3)
        return _read_pillow(path)
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    return array[:, :, 0] if planes == 1 else array


def _write_png16(path: Path, values: np.ndarray) -> None:
    """uint16 HWC (grey, RGB, RGBA) as a 16-bit PNG through pypng: IHDR, IDAT and IEND chunks only."""
    import png  # pypng

    height, width, channels = values.shape
    writer = png.Writer(width, height, greyscale=channels == 1, alpha=channels == 4, bitdepth=16, compression=6)
    rows = np.ascontiguousarray(values.astype(">u2")).reshape(height, width * channels).view(np.uint8)
    with open(path, "wb") as f:
        writer.write_packed(f, (row.tobytes() for row in rows))  # rows already packed: big-endian 16-bit samples
