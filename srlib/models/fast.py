"""Inference-only fast paths, in float32 or bfloat16.

``inference_model(model, precision)`` returns a module that computes what ``model`` computes, faster,
sharing its parameters (nothing is copied; a weight changed in ``model`` is seen on the next call);
``optimize_for_inference(model)`` is the same on a private copy. ``srlib.infer.upscale`` uses them.

float32 (``"fp32"``), exact to float rounding (1e-5), measured on a 2-core AVX-512 CPU (BENCHMARKS.md):

- channels_last (NHWC) activations and weights: oneDNN runs NHWC 3x3 convolutions without reordering
  every input and output to its blocked layout, the largest single gain;
- RRDBNet (``FastRRDBNet``): each LeakyReLU fused into the convolution before it, the 0.2 residual
  scalings folded into the last conv of each dense block with that conv's residual add fused into it
  (oneDNN post-ops via ``torch.ops.mkldnn._convolution_pointwise``, the kernels ``torch.compile`` uses on
  the CPU), the dense-block concatenations written into four buffers allocated once per forward;
- SRResNet (``FastSRResNet``): each eval-mode BatchNorm folded into the convolution before it and each
  residual add fused into the block's second convolution.

bfloat16 (``"bf16"``): the convolutions run in bf16 (8 significant bits, fp32 accumulation inside
oneDNN), several times faster on CPUs with native bf16 (AVX512-BF16, AMX) and on GPUs. Three things stay
float32, because rounding them to bf16 costs most of the accuracy (BENCHMARKS.md, "bf16 inference"):

- the first convolution: it reads the input image, and bf16 cannot hold 8-bit levels exactly (values
  near 1 are rounded to steps of 1/256; EDSR's [0, 255] input to steps of 0.5 to 1 level);
- the residual stream of RRDBNet (each block's ``x + 0.2 * branch``, 69 times over): adding a small
  branch to a bf16 trunk would round the branch away;
- the last convolution, so the output is not rounded to bf16 steps either.

``fp16`` is for CUDA only: CPUs without AVX512-FP16 run it through slow reference kernels.
"""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from srlib.models.rrdbnet import RESIDUAL_SCALE, RRDBNet
from srlib.models.srresnet import SRResNet

LRELU_SLOPE = 0.2  # RRDBNet's LeakyReLU slope
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16), read from /proc/cpuinfo.

    torch's own check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) also says yes on AVX-512 CPUs
    without bf16 instructions, where oneDNN emulates bf16 more slowly than fp32.
    """
    from srlib.utils import cpuinfo

    flags = set(cpuinfo().get("flags", "").split())
    return bool({"avx512_bf16", "amx_bf16"} & flags) and torch.backends.mkldnn.is_available()


def _mkldnn_ok(x: torch.Tensor) -> bool:
    on_cpu = x.device.type == "cpu" and torch.backends.mkldnn.is_available()
    return on_cpu and x.dtype in (torch.float32, torch.bfloat16)


def _conv(x, weight, bias, act: bool, other: torch.Tensor | None = None) -> torch.Tensor:
    """3x3 conv (stride 1, pad 1), then ``+ other`` if given, then LeakyReLU(0.2) if ``act``.

    ``x``, ``weight`` and ``bias`` share one dtype; an ``other`` of another dtype (the fp32 residual of a
    bf16 conv) is added after the conv, in the wider type, instead of fused into it.
    """
    if other is not None and other.dtype != x.dtype:
        y = _conv(x, weight, bias, act=False)
        y = other + y  # promoted to other's (wider) dtype
        return F.leaky_relu_(y, LRELU_SLOPE) if act else y
    if _mkldnn_ok(x):
        if other is None:
            attr, scalars = ("leaky_relu", [LRELU_SLOPE]) if act else ("none", [])
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, [1, 1], [1, 1], [1, 1], 1, attr, scalars, ""
            )
        unary, scalars = ("leaky_relu", [LRELU_SLOPE]) if act else (None, [])
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, other, weight, bias, [1, 1], [1, 1], [1, 1], 1, "add", None, unary, scalars, None
        )
    y = F.conv2d(x, weight, bias, 1, 1)
    if other is not None:
        y = y.add_(other)
    return F.leaky_relu_(y, LRELU_SLOPE) if act else y


class _WeightCache:
    """Convolution weights in the compute dtype and channels_last, converted once per weight version.

    Keyed by the parameter's identity and ``_version`` (bumped by every in-place change), so an edited
    or reloaded weight is converted again and never served stale.
    """

    def __init__(self):
        self._store: dict[tuple, tuple[int, torch.Tensor]] = {}

    def get(self, tensor: torch.Tensor, dtype: torch.dtype, scale: float = 1.0) -> torch.Tensor:
        key = (id(tensor), dtype, scale)
        version = tensor._version
        hit = self._store.get(key)
        if hit is None or hit[0] != version:
            value = tensor.detach() * scale if scale != 1.0 else tensor.detach()
            layout = torch.channels_last if value.ndim == 4 else torch.contiguous_format
            hit = (version, value.to(dtype).contiguous(memory_format=layout))
            self._store[key] = hit
        return hit[1]


class FastRRDBNet(RRDBNet):
    """RRDBNet with the same parameters and a fused, channels_last, inference-only forward.

    ``compute_dtype`` (float32 by default, or bfloat16 / float16) is what the convolutions of the body and
    the upsampler run in; the first and last convolutions and the residual stream stay float32.
    """

    compute_dtype: torch.dtype = torch.float32

    def _w(self, conv: nn.Conv2d, scale: float = 1.0, dtype: torch.dtype | None = None):
        if "_weight_cache" not in self.__dict__:
            self.__dict__["_weight_cache"] = _WeightCache()  # plain attribute: not a submodule or buffer
        dtype = dtype or self.compute_dtype
        cache = self.__dict__["_weight_cache"]
        return cache.get(conv.weight, dtype, scale), cache.get(conv.bias, dtype, scale)

    def _rdb(self, rdb, x: torch.Tensor, bufs: list[torch.Tensor], other: torch.Tensor, scale: float):
        """``other + scale * conv5(dense features)``: one dense block, the residual add fused into conv5."""
        feats = [x, _conv(x, *self._w(rdb.conv1), act=True)]  # x, x1
        for buf, conv in zip(bufs, (rdb.conv2, rdb.conv3, rdb.conv4), strict=False):
            cat = torch.cat(feats, 1, out=buf)  # (B, F + k*G, H, W), no fresh allocation
            feats.append(_conv(cat, *self._w(conv), act=True))
        cat = torch.cat(feats, 1, out=bufs[3])  # (B, F + 4G, H, W)
        return _conv(cat, *self._w(rdb.conv5, scale), act=False, other=other)

    def _body(self, feat: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feat.shape
        grow = self.body[0].rdb1.conv1.out_channels
        dtype = self.compute_dtype
        bufs = [
            torch.empty(b, c + k * grow, h, w, dtype=dtype, device=feat.device, memory_format=torch.channels_last)
            for k in (1, 2, 3, 4)
        ]
        s = RESIDUAL_SCALE
        for rrdb in self.body:  # x + s * rdb3(rdb2(rdb1(x))); x and the residual sums in float32
            x = feat
            y = self._rdb(rrdb.rdb1, x.to(dtype), bufs, other=x, scale=s)
            y = self._rdb(rrdb.rdb2, y.to(dtype), bufs, other=y, scale=s)
            # rdb3's own residual and the RRDB's one folded together: x + s*y + s*s*conv5(...)
            feat = self._rdb(rrdb.rdb3, y.to(dtype), bufs, other=torch.add(x, y, alpha=s), scale=s * s)
        return feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.unshuffle > 1:
                _, _, h, w = x.shape
                if h % self.unshuffle or w % self.unshuffle:
                    raise ValueError(f"RRDBNet x{self.scale} needs H and W divisible by {self.unshuffle}, got {h}x{w}")
                x = F.pixel_unshuffle(x, self.unshuffle)  # (B, 3*u*u, H/u, W/u)
            fp32, low = torch.float32, self.compute_dtype
            x = x.to(fp32).contiguous(memory_format=torch.channels_last)
            feat = _conv(x, *self._w(self.conv_first, dtype=fp32), act=False)  # (B, F, h, w), float32
            body = self._body(feat)
            feat = _conv(body, *self._w(self.conv_body, dtype=fp32), act=False, other=feat)  # long skip
            feat = feat.to(low)
            ups = zip((self.conv_up1, self.conv_up2), self.upsample_factors, strict=False)  # no conv_up2: one stage
            for conv, factor in ups:  # (B, F, 2h, 2w) then (B, F, 4h, 4w); or one x2 / x3 stage
                feat = _conv(F.interpolate(feat, scale_factor=factor, mode="nearest"), *self._w(conv), act=True)
            feat = _conv(feat, *self._w(self.conv_hr), act=True)
            out = _conv(feat.to(fp32), *self._w(self.conv_last, dtype=fp32), act=False)  # (B, 3, 4h, 4w)
            return out.contiguous()


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights of ``bn(conv(x))`` as one convolution (eval-mode BN is a per-channel affine map)."""
    return fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)


class FastSRResNet(SRResNet):
    """SRResNet with the same parameters and an inference-only forward (float32): each BatchNorm folded into
    the convolution before it (computed per call from the current parameters, so the state dict is
    untouched), each block's residual add fused into its second convolution, channels_last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = x.contiguous(memory_format=torch.channels_last)
            head = self.head(x)  # 9x9 conv + PReLU
            feat = head
            for block in self.body:  # feat + BN(conv(PReLU(BN(conv(feat)))))
                conv1, bn1, prelu, conv2, bn2 = block.body
                y = prelu(_conv(feat, *_folded(conv1, bn1), act=False))
                feat = _conv(y, *_folded(conv2, bn2), act=False, other=feat)
            conv, bn = self.conv_after_body
            feat = _conv(feat, *_folded(conv, bn), act=False, other=head)  # global skip
            return self.tail(self.upsample(feat)).contiguous()


class Float32(nn.Module):
    """Runs ``module`` in float32 inside an autocast region (the first and last layers of a bf16 model)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.module(x.float())


class Autocast(nn.Module):
    """Any model under autocast to ``dtype``, input channels_last; its first and last convs kept float32."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=self.dtype):
            return self.model(x.contiguous(memory_format=torch.channels_last)).float()


def _shallow(module: nn.Module) -> nn.Module:
    """A new module object over the same parameters and submodules (its own ``_modules`` dict)."""
    view = copy.copy(module)
    view._modules = dict(module._modules)
    return view


def _with_float32_ends(model: nn.Module) -> nn.Module:
    """A view of ``model`` whose first and last convolutions are wrapped in ``Float32``; ``model`` is untouched."""
    convs = [name for name, layer in model.named_modules() if isinstance(layer, nn.Conv2d)]
    view = _shallow(model)
    for name in dict.fromkeys([convs[0], convs[-1]] if convs else []):
        *path, leaf = name.split(".")
        parent = view
        for part in path:  # copy each parent on the way, so the original's containers stay as they are
            child = _shallow(parent._modules[part])
            parent._modules[part] = child
            parent = child
        parent._modules[leaf] = Float32(parent._modules[leaf])
    return view


def _fast_view(model: nn.Module, cls: type[nn.Module]) -> nn.Module:
    fast = cls.__new__(cls)
    fast.__dict__ = dict(model.__dict__)  # same submodules, parameters and settings; a new class
    fast.__dict__.pop("_weight_cache", None)
    return fast


def inference_model(model: nn.Module, precision: str = "fp32") -> nn.Module:
    """A faster module computing ``model`` at ``precision`` ("fp32", "bf16" or "fp16"), sharing its weights.

    fp32: RRDBNet and SRResNet get their fused forwards (exact to 1e-5), other models run as they are, and
    models without convolutions (bicubic) run as they are at every precision.
    bf16 / fp16: RRDBNet's fused forward in that dtype; other models under autocast with the first and
    last convolutions in float32. Put ``model`` in eval mode first: the view copies its mode once.
    """
    if precision not in DTYPES:
        raise ValueError(f"precision must be one of {', '.join(DTYPES)}, got {precision!r}")
    dtype = DTYPES[precision]
    if not any(isinstance(layer, nn.Conv2d) for layer in model.modules()):
        return model  # bicubic and other interpolators: no convolution to speed up, fp32 keeps them exact
    if type(model) in (RRDBNet, FastRRDBNet):  # exact types: a subclass may have its own forward
        fast = _fast_view(model, FastRRDBNet)
        fast.compute_dtype = dtype
        return fast
    if type(model) in (SRResNet, FastSRResNet):
        if dtype == torch.float32:
            return _fast_view(model, FastSRResNet)
        model = _fast_view(model, SRResNet)  # the plain forward: autocast handles its BatchNorms
    if dtype == torch.float32:
        return model
    return Autocast(_with_float32_ends(model), dtype)


def optimize_for_inference(model: nn.Module, precision: str = "fp32") -> nn.Module:
    """``inference_model`` on a private copy in eval mode, no grads, weights channels_last.

    The input model is left as it is. The copy's state dict has the same keys and values.
    """
    own = copy.deepcopy(model).eval().requires_grad_(False).to(memory_format=torch.channels_last)
    return inference_model(own, precision)
