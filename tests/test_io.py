"""Image I/O: odd modes converted with a warning, bad files named, 16 bits kept, tensors round-trip."""

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.io import list_images, load_image, read_image, to_numpy, to_tensor, write_image


def test_rgb_png_round_trip(tmp_path):
    x = np.random.default_rng(0).random((9, 7, 3)).astype(np.float32)
    write_image(tmp_path / "a.png", x)
    y = read_image(tmp_path / "a.png")
    assert y.shape == (9, 7, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y, np.round(x * 255) / 255, atol=1e-6)


@pytest.mark.parametrize(
    "mode, channels, message",
    [("L", 1, "grayscale"), ("RGBA", 4, "alpha"), ("P", 3, None), ("LA", 4, "alpha"), ("1", 1, "grayscale")],
)
def test_odd_modes_become_rgb_with_one_warning(tmp_path, mode, channels, message):
    base = Image.fromarray((np.random.default_rng(1).random((6, 5, 3)) * 255).astype(np.uint8))
    base.convert(mode).save(tmp_path / "odd.png")
    with pytest.warns(UserWarning, match=message) if message else _no_warning():
        x = read_image(tmp_path / "odd.png")
    assert x.shape == (6, 5, 3) and 0 <= x.min() and x.max() <= 1
    assert read_image(tmp_path / "odd.png", mode="keep").shape[2] == channels


class _no_warning:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_stays_16_bit(tmp_path, channels, suffix):
    x = np.random.default_rng(2).random((5, 6, channels)).astype(np.float32)
    path = write_image(tmp_path / f"deep{suffix}", x, bit_depth=16)
    y, depth = load_image(path)
    assert depth == 16 and y.shape == (5, 6, channels)
    np.testing.assert_allclose(y, np.round(x * 65535) / 65535, atol=1e-7)
    with pytest.warns(UserWarning, match="16-bit"):
        assert read_image(path).shape == (5, 6, 3)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_png_is_bit_exact_and_plain(tmp_path, channels):
    """Every 16-bit level comes back exactly, read by pypng itself and by srlib, over more than one IDAT chunk
    (pypng starts a new one after 1 MiB of rows), and the file holds the critical chunks only."""
    import png

    levels = np.arange(2**16, dtype=np.uint16)  # every level once, then shuffled so each channel differs
    rng = np.random.default_rng(4)
    values = np.stack([rng.permutation(np.tile(levels, 3)) for _ in range(channels)], axis=-1)
    values = values.reshape(384, 512, channels)  # 384 * 512 = 3 * 2**16 pixels
    path = write_image(tmp_path / "levels.png", values / 65535, bit_depth=16)
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    assert (width, height, info["bitdepth"], info["planes"]) == (512, 384, 16, channels)
    np.testing.assert_array_equal(np.vstack([np.asarray(row) for row in rows]).reshape(values.shape), values)
    y, depth = load_image(path)
    assert depth == 16
    np.testing.assert_array_equal(np.round(y * 65535).astype(np.uint16), values)
    tags = [tag for tag, _ in png.Reader(filename=str(path)).chunks()]
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND" and set(tags[1:-1]) == {b"IDAT"}
    assert channels == 1 or len(tags) > 3  # 384 rows of 512 RGB(A) 16-bit pixels: over 1 MiB, several IDATs


def test_bad_files_are_named(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="notes.png"):
        read_image(tmp_path / "notes.png")
    write_image(tmp_path / "cut.png", np.random.default_rng(3).random((64, 64, 3)))
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def test_list_images_filters_and_sorts(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.webp", "notes.txt", "d.tiff"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp", "d.tiff"]


def test_tensor_conversions():
    x = np.random.default_rng(4).random((4, 5, 3)).astype(np.float32)
    t = to_tensor(x)
    assert t.shape == (1, 3, 4, 5) and t.dtype == torch.float32
    np.testing.assert_array_equal(to_numpy(t), x)
    assert to_numpy(torch.full((3, 2, 2), 1.5)).max() == 1.0


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10  # 2 rows, 3 columns, all different
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show it rotated 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "phone.png", exif=exif)
    upright = np.rot90(pixels, k=-1)
    assert np.array_equal(np.round(read_image(tmp_path / "phone.png") * 255).astype(np.uint8), upright)
    Image.fromarray(pixels).save(tmp_path / "plain.png")
    assert read_image(tmp_path / "plain.png").shape == (2, 3, 3)


def _png_header_only(path, width, height, bit_depth):
    """A PNG whose IHDR claims width x height RGB pixels, with one tiny IDAT (a decompression bomb header)."""
    import struct
    import zlib

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_a_decompression_bomb_header_is_a_clear_error(tmp_path, bit_depth):
    path = _png_header_only(tmp_path / "bomb.png", 40_000, 40_000, bit_depth)
    with pytest.raises(ValueError, match=r"bomb\.png: not read: .*decompression bomb.*MAX_IMAGE_PIXELS"):
        read_image(path)
