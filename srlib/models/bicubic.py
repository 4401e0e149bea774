"""Bicubic upscaling as a model, so every table and figure gets its baseline row from the same code."""

from __future__ import annotations

import torch
from torch import nn


class BicubicUpscaler(nn.Module):
    """MATLAB-style bicubic ``imresize`` by ``scale``. No parameters; [0, 1] in and out."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from srlib.imresize import imresize  # lazy: keeps `import srlib.models` light

        return imresize(x, scale=self.scale)
