"""Inference-only fast paths: ``optimize_for_inference(model)`` returns an equivalent, faster module.

Same parameters and names (the state dict loads both ways), same outputs within float rounding (1e-5).
What it does, measured on a 2-core AVX-512 CPU (BENCHMARKS.md, "Model inference"):

- channels_last (NHWC) weights and activations: oneDNN runs NHWC 3x3 convolutions without reordering
  every input and output to its blocked layout, the largest single gain;
- RRDBNet only (``FastRRDBNet``): each LeakyReLU is fused into the convolution before it, the 0.2
  residual scalings are folded into the last conv of each dense block and that conv's residual add is
  fused into it (oneDNN post-ops via ``torch.ops.mkldnn._convolution_pointwise``, the kernels
  ``torch.compile`` uses on the CPU), and the dense-block concatenations write into four buffers
  allocated once per forward instead of four fresh tensors per block;
- SRResNet only (``FastSRResNet``): each eval-mode BatchNorm folded into the convolution before it and
  each residual add fused into the block's second convolution;
- the forward runs under ``torch.inference_mode``: the result carries no autograd history.

On a GPU, or a CPU build without oneDNN, the same module runs plain ``F.conv2d`` calls.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from srlib.models.rrdbnet import RESIDUAL_SCALE, RRDBNet
from srlib.models.srresnet import SRResNet

LRELU_SLOPE = 0.2  # RRDBNet's LeakyReLU slope


def _mkldnn_ok(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available()


def _conv(x, weight, bias, act: bool, other: torch.Tensor | None = None) -> torch.Tensor:
    """3x3 conv (stride 1, pad 1), then ``+ other`` if given, then LeakyReLU(0.2) if ``act``."""
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


class FastRRDBNet(RRDBNet):
    """RRDBNet with the same parameters and a fused, channels_last, inference-only forward."""

    def _rdb(self, rdb, x: torch.Tensor, bufs: list[torch.Tensor], other: torch.Tensor, scale: float):
        """``other + scale * conv5(dense features)``: one dense block, the residual add fused into conv5."""
        feats = [x, _conv(x, rdb.conv1.weight, rdb.conv1.bias, act=True)]  # x, x1
        for buf, conv in zip(bufs, (rdb.conv2, rdb.conv3, rdb.conv4), strict=False):
            cat = torch.cat(feats, 1, out=buf)  # (B, F + k*G, H, W), no fresh allocation
            feats.append(_conv(cat, conv.weight, conv.bias, act=True))
        cat = torch.cat(feats, 1, out=bufs[3])  # (B, F + 4G, H, W)
        return _conv(cat, rdb.conv5.weight * scale, rdb.conv5.bias * scale, act=False, other=other)

    def _body(self, feat: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feat.shape
        grow = self.body[0].rdb1.conv1.out_channels
        bufs = [
            torch.empty(b, c + k * grow, h, w, dtype=feat.dtype, device=feat.device, memory_format=torch.channels_last)
            for k in (1, 2, 3, 4)
        ]
        s = RESIDUAL_SCALE
        for rrdb in self.body:  # x + s * rdb3(rdb2(rdb1(x)))
            x = feat
            y = self._rdb(rrdb.rdb1, x, bufs, other=x, scale=s)
            y = self._rdb(rrdb.rdb2, y, bufs, other=y, scale=s)
            # rdb3's own residual and the RRDB's one folded together: x + s*y + s*s*conv5(...)
            feat = self._rdb(rrdb.rdb3, y, bufs, other=torch.add(x, y, alpha=s), scale=s * s)
        return feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.unshuffle > 1:
                _, _, h, w = x.shape
                if h % self.unshuffle or w % self.unshuffle:
                    raise ValueError(f"RRDBNet x{self.scale} needs H and W divisible by {self.unshuffle}, got {h}x{w}")
                x = F.pixel_unshuffle(x, self.unshuffle)  # (B, 3*u*u, H/u, W/u)
            x = x.contiguous(memory_format=torch.channels_last)
            feat = _conv(x, self.conv_first.weight, self.conv_first.bias, act=False)  # (B, F, h, w)
            body = self._body(feat)
            feat = _conv(body, self.conv_body.weight, self.conv_body.bias, act=False, other=feat)  # long skip
            ups = zip((self.conv_up1, self.conv_up2), self.upsample_factors, strict=False)  # no conv_up2: one stage
            for conv, factor in ups:  # (B, F, 2h, 2w) then (B, F, 4h, 4w); or one x2 / x3 stage
                feat = _conv(F.interpolate(feat, scale_factor=factor, mode="nearest"), conv.weight, conv.bias, act=True)
            feat = _conv(feat, self.conv_hr.weight, self.conv_hr.bias, act=True)
            out = _conv(feat, self.conv_last.weight, self.conv_last.bias, act=False)  # (B, 3, 4h, 4w)
            return out.contiguous()


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights of ``bn(conv(x))`` as one convolution (eval-mode BN is a per-channel affine map)."""
    return fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)


class FastSRResNet(SRResNet):
    """SRResNet with the same parameters and an inference-only forward: each BatchNorm folded into the
    convolution before it (computed per call from the current parameters, so the state dict is untouched),
    each block's residual add fused into its second convolution, channels_last."""

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


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """An equivalent inference-only copy of ``model``: eval mode, no grads, channels_last; RRDBNet and
    SRResNet also get fused forwards.

    The input model is left as it is. The copy's state dict has the same keys and values.
    """
    fast_class = {RRDBNet: FastRRDBNet, SRResNet: FastSRResNet}.get(type(model))
    if fast_class is not None:
        fast = fast_class.__new__(fast_class)
        fast.__dict__ = copy.deepcopy(model).__dict__  # same submodules and settings, new class
    else:
        fast = copy.deepcopy(model)
    fast.eval().requires_grad_(False)
    return fast.to(memory_format=torch.channels_last)
