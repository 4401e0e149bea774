"""ncnn models (a ``.param`` text graph and a ``.bin`` of weights) read into srlib's RRDBNet weights.

RealSR's and Real-ESRGAN's ncnn releases on the package index are the only offline source of those published
models (``srlib.hub`` fetches them); only the two files are needed, not the Vulkan runtime. The conversion
checks every convolution's shape, padding and activation against RRDBNet's forward order and uses every byte
of the ``.bin``; anything else is refused with a ValueError that names the layer. Nothing here knows about
files, caches or other checkpoint formats.
"""

from __future__ import annotations

import struct

import numpy as np
import torch

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


__all__ = ["parse_ncnn_param", "rrdbnet_conv_plan", "ncnn_to_state_dict"]
