"""srlib.ncnn: ncnn RRDBNet graphs (as RealSR / Real-ESRGAN export them) read into srlib weights."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
import torch
from test_hub import SMALL, same_output, small_model

from srlib import hub, ncnn
from srlib.models import build_model

# ---- ncnn ---------------------------------------------------------------------------------------------------

FP16_TAG = 0x01306B47


def rrdbnet_to_ncnn(sd: dict, num_block: int, fp16=lambda i: i % 2 == 0) -> tuple[str, bytes]:
    """Write an srlib RRDBNet as an ncnn param/bin pair, as ncnn's ONNX converter lays it out."""
    layers, consumers, n = [], {}, [0]

    def blob():
        n[0] += 1
        return f"b{n[0]}"

    def layer(kind, inputs, params="", out=None):
        out = out or blob()
        layers.append([kind, f"{kind}_{len(layers)}", list(inputs), [out], params])
        for x in inputs:
            consumers[x] = consumers.get(x, 0) + 1
        return out

    convs = []

    def conv(x, name, out=None):
        w = sd[f"{name}.weight"]
        leaky = re.search(r"conv[1-4]$|conv_up|conv_hr", name) is not None
        act = " 9=2 -23310=1,2.000000e-01" if leaky else ""
        convs.append(name)
        return layer("Convolution", [x], f"0={w.shape[0]} 1=3 4=1 5=1 6={w.numel()}{act}", out)

    x = layer("Input", [], out="data")
    feat = conv(x, "conv_first")
    h = feat
    for i in range(num_block):
        block_in = h
        for r in (1, 2, 3):
            xs = [h]
            for j in range(1, 5):
                cat = xs[0] if len(xs) == 1 else layer("Concat", xs)
                xs.append(conv(cat, f"body.{i}.rdb{r}.conv{j}"))
            x5 = conv(layer("Concat", xs), f"body.{i}.rdb{r}.conv5")
            h = layer("Eltwise", [x5, h], "0=1 -23301=2,2.000000e-01,1.000000e+00")
        h = layer("Eltwise", [h, block_in], "0=1 -23301=2,2.000000e-01,1.000000e+00")
    h = layer("BinaryOp", [feat, conv(h, "conv_body")], "0=0")
    for name in ("conv_up1", "conv_up2"):
        h = conv(layer("Interp", [h], "0=1 1=2.000000e+00 2=2.000000e+00"), name)
    conv(conv(h, "conv_hr"), "conv_last", out="output")

    # a blob read by k layers goes through a Split with k outputs, as ncnn requires
    final, uses = [], {}
    for kind, name, inputs, outputs, params in layers:
        renamed = []
        for x in inputs:
            if consumers[x] > 1:
                uses[x] = uses.get(x, 0) + 1
                renamed.append(f"{x}_s{uses[x] - 1}")
            else:
                renamed.append(x)
        final.append([kind, name, renamed, outputs, params])
        if consumers.get(outputs[0], 0) > 1:
            k = consumers[outputs[0]]
            final.append(["Split", f"split_{outputs[0]}", outputs, [f"{outputs[0]}_s{i}" for i in range(k)], ""])
    blobs = {b for entry in final for b in entry[3]}
    lines = ["7767517", f"{len(final)} {len(blobs)}"]
    for kind, name, inputs, outputs, params in final:
        lines.append(
            f"{kind:<24} {name:<24} {len(inputs)} {len(outputs)} {' '.join(inputs + outputs)} {params}".rstrip()
        )

    data = bytearray()
    for i, name in enumerate(convs):
        w, b = sd[f"{name}.weight"].numpy().ravel(), sd[f"{name}.bias"].numpy()
        if fp16(i):
            raw = w.astype(np.float16).tobytes()
            data += struct.pack("<I", FP16_TAG) + raw + b"\0" * (-len(raw) % 4)
        else:
            data += struct.pack("<I", 0) + w.astype(np.float32).tobytes()
        data += b.astype(np.float32).tobytes()
    return "\n".join(lines) + "\n", bytes(data)


def tiny_rrdbnet():
    return small_model("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4)


def test_ncnn_conversion_reads_fp16_and_fp32(tmp_path):
    model = tiny_rrdbnet()
    sd = {k: v.half().float() for k, v in model.state_dict().items()}  # fp16-exact, so fp16 records are exact
    model.load_state_dict(sd)
    param, data = rrdbnet_to_ncnn(sd, 2, fp16=lambda i: i % 3 != 1)
    converted = ncnn.ncnn_to_state_dict(param, data, num_block=2)
    assert converted.keys() == sd.keys()
    assert all(torch.equal(converted[k], sd[k]) for k in sd)
    loaded = hub.load_model(hub.save_weights(converted, tmp_path / "tiny.safetensors"))
    assert same_output(loaded, model)


def test_ncnn_fp16_rounds_like_numpy():
    sd = tiny_rrdbnet().state_dict()
    converted = ncnn.ncnn_to_state_dict(*rrdbnet_to_ncnn(sd, 2, fp16=lambda i: True))
    w = sd["conv_first.weight"]
    assert torch.equal(converted["conv_first.weight"], w.half().float()) and not torch.equal(w.half().float(), w)


def test_ncnn_bad_files_are_refused():
    sd = tiny_rrdbnet().state_dict()
    param, data = rrdbnet_to_ncnn(sd, 2)
    with pytest.raises(ValueError, match="bytes left"):
        ncnn.ncnn_to_state_dict(param, data + b"\0" * 8)
    with pytest.raises(ValueError, match="truncated"):
        ncnn.ncnn_to_state_dict(param, data[:-100])
    with pytest.raises(ValueError, match="expected 23 RRDB blocks"):
        ncnn.ncnn_to_state_dict(param, data, num_block=23)
    with pytest.raises(ValueError, match="unsupported weight storage tag"):
        ncnn.ncnn_to_state_dict(param, struct.pack("<I", 0x000D4B38) + data[4:])
    wrong_channels = param.replace("0=4 1=3", "0=5 1=3", 1)
    with pytest.raises(ValueError, match="wrong channels"):
        ncnn.ncnn_to_state_dict(wrong_channels, data)
    no_act = param.replace(" 9=2 -23310=1,2.000000e-01", "", 1)
    with pytest.raises(ValueError, match="wrong activation"):
        ncnn.ncnn_to_state_dict(no_act, data)
    with pytest.raises(ValueError, match="unexpected layer types"):
        ncnn.ncnn_to_state_dict(param.replace("Interp", "Deconvolution", 1), data)
    with pytest.raises(ValueError, match="not an ncnn"):
        ncnn.ncnn_to_state_dict("hello\n", data)


def test_ncnn_runtime_agrees(tmp_path, unavailable):
    """The ncnn runtime itself runs the synthetic graph: same output as the converted model (skip locally
    without ncnn; on CI, where the dev extras install it, a missing runtime fails)."""
    try:
        import ncnn as ncnn_runtime  # the runtime package, not srlib.ncnn
    except ImportError:
        unavailable("the ncnn runtime is not installed (pip install ncnn, in the dev extras)")
    model = tiny_rrdbnet()
    param, data = rrdbnet_to_ncnn(model.state_dict(), 2, fp16=lambda i: False)
    (tmp_path / "m.param").write_text(param)
    (tmp_path / "m.bin").write_bytes(data)
    net = ncnn_runtime.Net()
    for option in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, option, False)
    assert net.load_param(str(tmp_path / "m.param")) == 0 and net.load_model(str(tmp_path / "m.bin")) == 0
    x = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)
    extractor = net.create_extractor()
    extractor.input("data", ncnn_runtime.Mat(x).clone())
    ret, out = extractor.extract("output")
    reference = np.array(out).copy()
    converted = build_model("rrdbnet", **SMALL["rrdbnet"] | dict(num_feat=8, num_grow_ch=4)).eval()
    converted.load_state_dict(ncnn.ncnn_to_state_dict(param, data))
    with torch.no_grad():
        ours = converted(torch.from_numpy(x)[None])[0].numpy()
    assert ret == 0 and reference.shape == ours.shape == (3, 32, 32)
    assert np.abs(reference - ours).max() < 1e-4
