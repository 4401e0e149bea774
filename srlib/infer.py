"""Upscale images of any size and mode with any srlib model: tiling, self-ensemble, precision.

``upscale(model, image)`` takes numpy HWC / HW (uint8, uint16 or float in [0, 1]) or torch CHW / NCHW and
returns the same kind, layout and dtype, ``scale`` times larger:

- grayscale goes through an RGB model as R = G = B and comes back as the mean of the three outputs;
  RGBA (and grey + alpha) upscale the colour with the model and the alpha separately (bicubic by
  default, or the model on the alpha replicated to RGB);
- tiling happens on the CPU side: the image stays in host memory and one padded tile at a time is sent
  to the device, so a DIV2K-size image fits a small GPU. Each tile is read with ``tile_pad`` pixels of
  context on every side; ``blend="crop"`` keeps only the tile's own pixels of the output (Real-ESRGAN's
  way), ``blend="feather"`` keeps the padded outputs and cross-fades neighbours with a linear ramp over
  their overlap. Crop is exact once the padding covers the model's receptive field; feather never is (it
  weights in outputs next to tile edges) and is at most 20% better when the padding is too small, so
  crop is the default;
- ``ensemble=True`` is the x8 geometric self-ensemble (EDSR's "+"): the 4 flips x 2 transposes of the
  input, each output transformed back, averaged;
- ``precision``: "fp32", "bf16" (the convolutions in bfloat16, the first and last layers and RRDBNet's
  residual stream in float32: ``srlib.models.fast``), "fp16" (CUDA only) or "auto", the default: bf16 on
  a CPU with native bf16 (AVX512-BF16 or AMX), fp32 elsewhere. bf16 moves Y-PSNR against HR by less
  than 0.02 dB on Set5, Set14 and BSD100 for every course and zoo model measured, and the output sits 53-68
  dB from fp32's, but a few pixels of the 23-block RRDBNets differ by up to 14 levels (BENCHMARKS.md, "bf16
  inference"): use fp32 where outputs must match bit for bit; ``fast`` (default) runs fp32 through the
  fused forwards of ``srlib.models.fast``, equal to 1e-5;
- ``tile_pad=None`` (default) reads ``default_tile_pad(model)`` pixels of context around each tile: enough
  that tiled equals untiled within one 8-bit level in fp32 at any tile of 32 or more, for every zoo and course
  model at hand; in bf16 the deep RRDBNets stay up to 8 levels from untiled bf16 at any pad, no further from
  the fp32 output than untiled bf16 is (BENCHMARKS.md, "Tiling").

``srlib upscale`` (``srlib.infer_cli``) drives it from the command line; ``srlib.hub.resolve_model`` turns a
name or a checkpoint path into a model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# The output is assembled in host memory as float32: 2**28 pixels (16384 x 16384) are 3.2 GB for RGB, and
# the conversions back to the input's kind take as much again. Larger outputs are refused up front.
MAX_OUTPUT_PIXELS = 2**28
BLENDS = ("crop", "feather")
ALPHA_MODES = ("bicubic", "model")
NUM_TRANSFORMS = 8  # 4 flips x 2 transposes: the dihedral group of the square


# ---------------------------------------------------------------------------------------------------
# upscale


def upscale(
    model: nn.Module,
    image,
    scale: int | None = None,
    tile: int | None = None,
    tile_pad: int | None = None,
    ensemble: bool = False,
    device: str | torch.device | None = None,
    precision: str = "auto",
    fast: bool = True,
    channels_last: bool = False,
    alpha: str = "bicubic",
    blend: str = "crop",
    progress: bool = False,
    max_output_pixels: int = MAX_OUTPUT_PIXELS,
):
    """Upscale one image (or a torch batch) with ``model``; returns the same kind, clipped to [0, 1].

    image: numpy HW / HWC with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels, dtype uint8,
        uint16 or float in [0, 1]; or a torch tensor CHW / NCHW (float in [0, 1], or uint8).
    scale: the model's factor; ``None`` reads ``model.scale`` (or measures it on a small input).
    tile: tile side in input pixels (``None``: the whole image at once); ``tile_pad``: context pixels
        read around each tile (``None``: ``default_tile_pad(model)``). The model is moved to ``device``
        (default: where its parameters are, else the CPU) and put in eval mode for the call.
    precision: "auto" (bf16 on a CPU with native bf16, else fp32; fp32 when tiled, so tiles are seamless),
        "fp32", "bf16" or "fp16" (CUDA).
    fast: run through ``srlib.models.fast.inference_model`` (shares the weights, copies nothing); False
        runs ``model`` itself, in fp32 only. ``channels_last``: NHWC memory format for that eager run.
    alpha: "bicubic" (MATLAB-style) or "model" for the alpha channel. blend: "crop" or "feather".
    progress: a tqdm bar over the tiles (on stderr).
    max_output_pixels: a larger output (per image) is refused with a ValueError before any work.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    if alpha not in ALPHA_MODES:
        raise ValueError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got {alpha!r}")
    if tile_pad is None:
        tile_pad = default_tile_pad(model)
    if (tile is not None and tile < 1) or tile_pad < 0:
        raise ValueError(f"tile must be positive and tile_pad non-negative, got {tile} and {tile_pad}")
    device = torch.device(device) if device is not None else _model_device(model)
    precision = resolve_precision(precision, device, tiled=tile is not None)
    if precision != "fp32" and not fast:
        raise ValueError(f"precision {precision!r} runs through the fast path: drop fast=False or use fp32")
    x, restore = _to_batch(image)  # (N, C, H, W) float32 on the CPU, and the way back
    was_training = model.training
    model.eval().to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        with torch.inference_mode():
            scale = _model_scale(model, scale, device)
            _check_output_size(x.shape, scale, max_output_pixels)
            from srlib.models.fast import inference_model

            net = inference_model(model, precision) if fast else model
            forward = _make_forward(net, device, channels_last and not fast, ensemble)
            outs = [
                _upscale_channels(forward, x[i : i + 1], model, scale, tile, tile_pad, alpha, blend, progress)
                for i in range(x.shape[0])
            ]
            out = (outs[0] if len(outs) == 1 else torch.cat(outs)).clamp_(0, 1)
    finally:
        model.train(was_training)
    return restore(out)


def resolve_precision(precision: str, device: torch.device | str, tiled: bool = False) -> str:
    """The precision ``upscale`` runs at: "auto" becomes bf16 on a CPU with native bf16, else fp32.

    ``tiled``: "auto" stays fp32 for a tiled run, because in bf16 no tile pad makes the seams vanish (tiled
    bf16 differs from untiled bf16 by 2-8 levels on the deep RRDBNets; fp32 tiles match within one level at the
    default pads). An explicit "bf16" is kept. fp16 is refused on the CPU (no fast kernels there) and bf16 on a
    GPU without bf16 support.
    """
    from srlib.models.fast import cpu_has_native_bf16

    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() and not tiled else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision 'fp16' needs a CUDA device; on {device.type} use 'bf16' or 'fp32'")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU has no bf16: use precision 'fp16' or 'fp32'")
    return precision


# Context pixels per tile side that make tiled equal untiled within one 8-bit level in fp32 at tiles 32, 48
# and 64: the largest needed by any zoo or course model of the family, rounded up to 4 (benchmarks/tile_pad.py
# on x2 LRs of baboon and BSD100 253027; BENCHMARKS.md "Tiling"). RRDBNet: Real-ESRGAN x4plus needs 72 (RealSR
# DF2K 40, DF2K-JPEG 44, x4plus anime 52, the course RRDBs 8). MSRResNet: the course models need 8. EDSR: the
# course model needs 8; the official weights (16, 32 blocks) cannot be fetched here, so 32 scales that 8 by
# receptive field, unmeasured, as SRResNet's 16 does (no checkpoint at hand). In bf16 no pad brings the 6- and
# 23-block RRDBNets within one level of untiled bf16 (2-8 levels at 72: bf16 rounding turns the smallest change
# into a few levels), but tiled bf16 is as close to fp32 as untiled bf16 is (2-8 levels against 6-14).
TILE_PADS = {"RRDBNet": 72, "EDSR": 32, "SRResNet": 16, "MSRResNet": 8}
TILE_PAD_OTHER = 32  # a family not measured: generous


def default_tile_pad(model: nn.Module) -> int:
    """The context ``upscale`` reads around each tile when ``tile_pad`` is not given.

    A pad measured for these very weights comes first: ``model.tile_pad``, which ``srlib.hub`` sets from the
    zoo entry or from the checkpoint's metadata (``srlib.hub.TILE_PAD_KEY``). Otherwise the family's pad
    (``TILE_PADS``), which must cover the family's hungriest model and so costs the others time (RealSR DF2K
    at 40 instead of 72 computes 1.47x instead of 1.81x the untiled area at tile 256).
    """
    own = getattr(model, "tile_pad", None)
    if own is not None:
        return int(own)
    if not any(isinstance(layer, nn.Conv2d) for layer in model.modules()):
        return 4  # bicubic and other models without convolutions: 2 LR pixels of support
    return TILE_PADS.get(type(model).__name__.removeprefix("Fast"), TILE_PAD_OTHER)


def _check_output_size(shape, scale: int, limit: int) -> None:
    h, w = shape[-2] * scale, shape[-1] * scale
    if h * w > limit:
        gigabytes = h * w * shape[1] * 4 / 1e9
        raise ValueError(
            f"the x{scale} output of this {shape[-1]}x{shape[-2]} image would be {w}x{h} = {h * w:,} pixels "
            f"({gigabytes:.2g} GB as float32), over the limit of {limit:,}: upscale a crop of it, or raise the "
            "limit (srlib upscale --max-pixels, upscale(..., max_output_pixels=...)) if the memory is there"
        )


def _model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def _model_scale(model: nn.Module, scale: int | None, device: torch.device) -> int:
    """The model's factor: ``model.scale`` if it has one (checked against ``scale``), else measured."""
    own = getattr(model, "scale", None)
    if own is not None and scale is not None and int(own) != int(scale):
        raise ValueError(f"the model upscales x{own}, not x{scale}: drop --scale or pick another model")
    if own is not None or scale is not None:
        return int(own if own is not None else scale)
    channels = _input_channels(model) or 3
    probe = torch.zeros(1, channels, 16, 16, device=device)
    out = model(probe)
    return out.shape[-1] // 16


def _input_channels(model: nn.Module) -> int | None:
    """Colour channels the model expects (from its first convolution), or None if it takes any."""
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            return layer.in_channels // _size_multiple(model) ** 2
    return None  # e.g. bicubic: no convolution, any number of channels


def _size_multiple(model: nn.Module) -> int:
    """Input sides must be multiples of this (RRDBNet x2 / x1 pixel-unshuffle their input)."""
    return int(getattr(model, "unshuffle", 1))


def _to_batch(image) -> tuple[torch.Tensor, Callable[[torch.Tensor], object]]:
    """(N, C, H, W) float32 CPU tensor in [0, 1], and a function mapping an output back to the input's kind."""
    if isinstance(image, torch.Tensor):
        if image.ndim not in (3, 4):
            raise ValueError(f"torch images must be CHW or NCHW, got shape {tuple(image.shape)}")
        dtype, device, batched = image.dtype, image.device, image.ndim == 4
        if dtype == torch.uint8:
            x = image.float() / 255
        elif image.is_floating_point():
            x = image.float()
        else:
            raise ValueError(f"torch images must be float in [0, 1] or uint8, got {dtype}")
        x = (x if batched else x[None]).detach().cpu()

        def restore(out: torch.Tensor):
            out = out if batched else out[0]
            out = out.mul(255).round_().to(torch.uint8) if dtype == torch.uint8 else out.to(dtype)
            return out.to(device)

        return x, restore

    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise ValueError(f"numpy images must be HW or HWC, got shape {array.shape}")
    dtype, gray2d = array.dtype, array.ndim == 2
    if dtype in (np.uint8, np.uint16):
        peak = float(np.iinfo(dtype).max)
        x = torch.from_numpy(array.astype(np.float32) / peak)
    elif np.issubdtype(dtype, np.floating):
        peak = None
        x = torch.from_numpy(array.astype(np.float32))
    else:
        raise ValueError(f"numpy images must be uint8, uint16 or float in [0, 1], got {dtype}")
    x = x[None, None] if gray2d else x.permute(2, 0, 1)[None]

    def restore(out: torch.Tensor):
        result = out[0, 0] if gray2d else out[0].permute(1, 2, 0)
        result = result.numpy()
        if peak is not None:
            return np.round(result * peak).astype(dtype)
        return result.astype(dtype)

    return x, restore


def _upscale_channels(forward, x, model, scale, tile, tile_pad, alpha, blend, progress=False) -> torch.Tensor:
    """Route (1, C, H, W) through the model by channel layout: grey, grey + alpha, RGB or RGBA."""
    c = x.shape[1]
    if c not in (1, 2, 3, 4):
        raise ValueError(f"images must have 1, 2, 3 or 4 channels, got {c}")
    model_ch = _input_channels(model)
    multiple = _size_multiple(model)

    def color(t: torch.Tensor) -> torch.Tensor:
        k = t.shape[1]
        if model_ch is None or model_ch == k:
            return _tiled(forward, t, scale, tile, tile_pad, blend, multiple, progress)
        if model_ch == 3 and k == 1:  # grey through an RGB model, back as the mean of R, G, B
            rgb = _tiled(forward, t.expand(-1, 3, -1, -1), scale, tile, tile_pad, blend, multiple, progress)
            return rgb.mean(dim=1, keepdim=True)
        if model_ch == 1:  # a one-channel model on colour: each channel on its own
            return torch.cat([color(t[:, i : i + 1]) for i in range(k)], dim=1)
        raise ValueError(f"the model takes {model_ch} channels; cannot upscale a {k}-channel image")

    if c in (1, 3):
        return color(x)
    rgb, a = x[:, : c - 1], x[:, c - 1 :]
    out = color(rgb)
    if alpha == "model":
        out_a = color(a)
    else:
        from srlib.imresize import imresize  # lazy: keeps `import srlib.infer` light

        out_a = imresize(a, output_shape=out.shape[-2:])
    return torch.cat([out, out_a], dim=1)


# ---------------------------------------------------------------------------------------------------
# one tile on the device, and the geometric self-ensemble


def _make_forward(model, device, channels_last, ensemble):
    """A function: CPU tile (1, C, h, w) -> CPU float32 output; only this tile is on the device."""

    def run(t: torch.Tensor) -> torch.Tensor:
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return model(t).float()

    from srlib.data.dataset import dihedral, undo_dihedral  # the 8 symmetries training augments with

    def forward(tile_cpu: torch.Tensor) -> torch.Tensor:
        t = tile_cpu.to(device)
        if not ensemble:
            return run(t).cpu()
        total = None
        for k in range(NUM_TRANSFORMS):
            y = undo_dihedral(run(dihedral(t, k)), k)
            total = y if total is None else total + y
        return (total / NUM_TRANSFORMS).cpu()

    return forward


# ---------------------------------------------------------------------------------------------------
# tiling


def _windows(length: int, tile: int, pad: int):
    """(start, end, padded start, padded end) of each tile along one axis."""
    for start in range(0, length, tile):
        end = min(start + tile, length)
        yield start, end, max(start - pad, 0), min(end + pad, length)


def _ramp(length: int, fade_in: bool, fade_out: bool, overlap: int) -> torch.Tensor:
    """1-D feather weights: rise linearly over ``overlap`` pixels at each side that has a neighbour."""
    pos = torch.arange(length, dtype=torch.float32) + 0.5
    w = torch.ones(length)
    if fade_in:
        w = torch.minimum(w, pos / overlap)
    if fade_out:
        w = torch.minimum(w, (length - pos) / overlap)
    return w


def _tiled(forward, x, scale: int, tile, pad: int, blend: str, multiple: int, progress: bool = False) -> torch.Tensor:
    """Run ``forward`` over (1, C, H, W) tile by tile and assemble the (1, C', sH, sW) output on the CPU."""
    _, _, h0, w0 = x.shape
    if (h0 % multiple) or (w0 % multiple):  # pad to the model's multiple (edge pixels), crop after
        x = F.pad(x, (0, -w0 % multiple, 0, -h0 % multiple), mode="replicate")
    _, _, h, w = x.shape
    if tile is None:
        tile, pad = max(h, w), 0
    round_up = lambda n: -(-n // multiple) * multiple
    tile, pad = round_up(tile), round_up(pad)
    feather = blend == "feather" and pad > 0
    s = scale
    out = weights = None
    grid = [(wy, wx) for wy in _windows(h, tile, pad) for wx in _windows(w, tile, pad)]
    if progress and len(grid) > 1:
        from tqdm import tqdm

        grid = tqdm(grid, desc="tiles", unit="tile", leave=False)
    for (y0, y1, py0, py1), (x0, x1, px0, px1) in grid:
        y = forward(x[..., py0:py1, px0:px1])  # (1, C', s*(py1-py0), s*(px1-px0))
        if y.shape[-2:] != (s * (py1 - py0), s * (px1 - px0)):
            raise RuntimeError(f"the model turned a {py1 - py0}x{px1 - px0} tile into {tuple(y.shape[-2:])}, not x{s}")
        if out is None:
            out = torch.zeros(1, y.shape[1], s * h, s * w)
            weights = torch.zeros(1, 1, s * h, s * w) if feather else None
        if feather:  # keep the padded output, cross-faded with the neighbours over the overlap
            wy = _ramp(y.shape[-2], py0 > 0, py1 < h, 2 * pad * s)
            wx = _ramp(y.shape[-1], px0 > 0, px1 < w, 2 * pad * s)
            wmap = wy[:, None] * wx[None, :]
            out[..., s * py0 : s * py1, s * px0 : s * px1] += y * wmap
            weights[..., s * py0 : s * py1, s * px0 : s * px1] += wmap
        else:  # crop the padding away: keep the tile's own pixels only
            oy, ox = s * (y0 - py0), s * (x0 - px0)
            out[..., s * y0 : s * y1, s * x0 : s * x1] = y[..., oy : oy + s * (y1 - y0), ox : ox + s * (x1 - x0)]
    if feather:
        out /= weights
    return out[..., : s * h0, : s * w0]
