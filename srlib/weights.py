"""Checkpoints from other projects: safe reading, layout detection, key mapping, ncnn conversion.

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
"""

from __future__ import annotations

import json
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srlib.models import ARCHITECTURES, EDSR, MSRResNet, RRDBNet, SRResNet, build_model

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


# ----------------------------------------------------------------------------------------------------------
# Reading files


def load_state_dict_file(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely and return its flat state dict (wrappers removed, see the module doc).

    ``.safetensors`` is read with safetensors; anything else with ``torch.load(weights_only=True)``, which
    refuses pickled objects other than tensors and containers. A truncated or corrupt file raises
    ``ValueError``; ``key`` picks one entry of a wrapped checkpoint (e.g. ``"params"`` over ``params_ema``).
    """
    return unwrap_checkpoint(_read(Path(path))[0], key)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (empty for other formats)."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[dict, dict[str, str]]:
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
            f"torch.load(..., weights_only=False) and save the weights with srlib.weights.save_weights. "
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
    raw, metadata = _read(path)
    return model_from_state_dict(unwrap_checkpoint(raw, key), name, metadata, path.name, **overrides)


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
            f"or damaged; save the weights again with srlib.weights.save_weights (or drop {_META_ARCH} so the "
            "architecture is inferred from the weights)"
        )
    return arch, kwargs


def _preset_key(name: str) -> str:
    from srlib.models import ALIASES

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
# ncnn (.param text graph + .bin weights) -> RRDBNet

NCNN_MAGIC = 7767517
NCNN_FP16_TAG = 0x01306B47  # ncnn ModelBin: this 4-byte tag means float16 weights follow
NCNN_ACTIVATION_LEAKY_RELU = 2
RRDBNET_LAYER_TYPES = {"Input", "Convolution", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"}


def parse_ncnn_param(text: str) -> list[dict]:
    """The layers of an ncnn ``.param`` text file: type, name, inputs, outputs, params {int: value}."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(NCNN_MAGIC)]:
        raise ValueError(f"not an ncnn text .param file (first line must be {NCNN_MAGIC})")
    layer_count = int(lines[1][0])
    layers = []
    for fields in lines[2:]:
        n_in, n_out = int(fields[2]), int(fields[3])
        params = {}
        for item in fields[4 + n_in + n_out :]:
            k, v = item.split("=", 1)
            k = int(k)
            if k <= -23300:  # an array: -23300 - id = count,v1,v2,...
                params[-23300 - k] = [float(x) for x in v.split(",")[1:]]
            else:
                params[k] = float(v) if ("." in v or "e" in v) else int(v)
        layers.append(dict(type=fields[0], name=fields[1], inputs=fields[4 : 4 + n_in],
                           outputs=fields[4 + n_in : 4 + n_in + n_out], params=params))  # fmt: skip
    if len(layers) != layer_count:
        raise ValueError(f".param declares {layer_count} layers but has {len(layers)}")
    return layers


def rrdbnet_conv_plan(num_block: int, num_feat: int = 64, num_grow_ch: int = 32, ch: int = 3) -> list[tuple]:
    """RRDBNet x4's convolutions in forward order: (srlib name, in channels, out channels, LeakyReLU?)."""
    plan = [("conv_first", ch, num_feat, False)]
    for i in range(num_block):
        for r in (1, 2, 3):
            for j in range(1, 6):
                c_in, c_out = num_feat + (j - 1) * num_grow_ch, num_grow_ch if j < 5 else num_feat
                plan.append((f"body.{i}.rdb{r}.conv{j}", c_in, c_out, j < 5))
    plan += [("conv_body", num_feat, num_feat, False), ("conv_up1", num_feat, num_feat, True),
             ("conv_up2", num_feat, num_feat, True), ("conv_hr", num_feat, num_feat, True),
             ("conv_last", num_feat, ch, False)]  # fmt: skip
    return plan


def ncnn_to_state_dict(param_text: str, bin_bytes: bytes, num_block: int | None = None) -> dict[str, torch.Tensor]:
    """Convert an ncnn RRDBNet x4 (as exported for RealSR / Real-ESRGAN) to srlib RRDBNet weights.

    The graph must be exactly RRDBNet's: 15 * num_block + 6 3x3 convolutions with the expected channel
    counts and activations (LeakyReLU 0.2 where RRDBNet has one), two nearest x2 upsamplers, and only
    the glue layers RRDBNet needs; anything else is refused. Each conv's ``.bin`` record is a 4-byte tag
    (0x01306B47: float16 follows; 0: float32), the weights (out, in, 3, 3) padded to 4 bytes, then float32
    biases. Every byte of the ``.bin`` must be used. The input is RGB in [0, 1], as srlib's models take.
    """
    layers = parse_ncnn_param(param_text)
    kinds = {layer["type"] for layer in layers}
    if not kinds <= RRDBNET_LAYER_TYPES:
        raise ValueError(f"not an RRDBNet graph: unexpected layer types {sorted(kinds - RRDBNET_LAYER_TYPES)}")
    convs = [layer for layer in layers if layer["type"] == "Convolution"]
    if (len(convs) - 6) % 15 or len(convs) < 21:
        raise ValueError(f"{len(convs)} convolutions is not 15 * num_block + 6: not an RRDBNet graph")
    found_blocks = (len(convs) - 6) // 15
    if num_block is not None and num_block != found_blocks:
        raise ValueError(f"expected {num_block} RRDB blocks ({15 * num_block + 6} convs), found {len(convs)} convs")
    interps = [layer for layer in layers if layer["type"] == "Interp"]
    if len(interps) != 2 or any(i["params"].get(0) != 1 or i["params"].get(1) != 2.0 for i in interps):
        raise ValueError("not an RRDBNet x4 graph: expected two nearest-neighbour x2 Interp layers")
    adds = [layer["params"] for layer in layers if layer["type"] == "Eltwise"]
    if len(adds) != 4 * found_blocks or any(a.get(0) != 1 or a.get(1) != [0.2, 1.0] for a in adds):
        raise ValueError("not an RRDBNet graph: expected 4 residual sums x + 0.2 * branch per RRDB block")
    p0 = convs[0]["params"]
    num_feat, ch = p0[0], p0[6] // (9 * p0[0])
    plan = rrdbnet_conv_plan(found_blocks, num_feat, convs[1]["params"][0], ch)

    state_dict, offset = {}, 0
    for index, (layer, (name, c_in, c_out, leaky)) in enumerate(zip(convs, plan, strict=True)):
        p = layer["params"]
        shape = (p.get(0), p.get(6, 0) // max(p.get(0, 1) * 9, 1), p.get(1), p.get(11, p.get(1)))
        checks = {"channels": shape == (c_out, c_in, 3, 3) and p[6] == c_out * c_in * 9,
                  "stride/dilation/padding": (p.get(3, 1), p.get(2, 1), p.get(4, 0)) == (1, 1, 1),
                  "bias": p.get(5, 0) == 1,
                  "activation": (p.get(9, 0) == NCNN_ACTIVATION_LEAKY_RELU and p.get(10) == [0.2]) if leaky
                  else p.get(9, 0) == 0}  # fmt: skip
        bad = [what for what, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"conv #{index} ({layer['name']}) does not match RRDBNet's {name} "
                             f"({c_in}->{c_out}, 3x3): wrong {', '.join(bad)}")  # fmt: skip
        count = c_out * c_in * 9
        if offset + 4 > len(bin_bytes):
            raise ValueError(f".bin ends before conv #{index} ({name}): truncated file")
        (tag,) = struct.unpack_from("<I", bin_bytes, offset)
        offset += 4
        if tag == NCNN_FP16_TAG:
            dtype, nbytes = np.float16, (count * 2 + 3) // 4 * 4  # half floats, padded to 4 bytes
        elif tag == 0:
            dtype, nbytes = np.float32, count * 4
        else:
            raise ValueError(f"conv #{index} ({name}): unsupported weight storage tag {tag:#010x} "
                             "(only float32 and float16 are read; quantised ncnn models are not)")  # fmt: skip
        if offset + nbytes + 4 * c_out > len(bin_bytes):
            raise ValueError(f".bin ends inside conv #{index} ({name}): truncated file")
        weight = np.frombuffer(bin_bytes, dtype, count, offset).astype(np.float32)
        offset += nbytes
        bias = np.frombuffer(bin_bytes, np.float32, c_out, offset).copy()
        offset += 4 * c_out
        state_dict[f"{name}.weight"] = torch.from_numpy(weight.reshape(c_out, c_in, 3, 3))
        state_dict[f"{name}.bias"] = torch.from_numpy(bias)
    if offset != len(bin_bytes):
        raise ValueError(f".bin has {len(bin_bytes) - offset} bytes left after the last conv: not this graph's weights")
    return state_dict


__all__ = [
    "LAYOUTS",
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
    "parse_ncnn_param",
    "rrdbnet_conv_plan",
    "ncnn_to_state_dict",
]
