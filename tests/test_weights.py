"""Checkpoint layouts round-trip, bad files fail clearly, the ncnn converter reads what an ncnn writer writes.

Each foreign layout is built here from a random srlib model by an inverse map written independently of
srlib.weights (from the key lists in ../shared/REFERENCE.md section 3), then loaded back.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
import torch

from srlib import weights
from srlib.models import build_model

SMALL = {
    "rrdbnet": dict(num_feat=16, num_block=2, num_grow_ch=8),
    "edsr": dict(num_feat=16, num_block=2, res_scale=1.0),
    "msrresnet": dict(num_feat=16, num_block=2),
    "srresnet": dict(num_feat=16, num_block=2),
}


def small_model(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, **{**SMALL[name], **overrides}).eval()
    with torch.no_grad():  # non-zero biases, so a bias mapped to the wrong layer shows
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


def same_output(a: torch.nn.Module, b: torch.nn.Module, size: int = 8) -> bool:
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


# ---- inverse maps: srlib names -> each project's names ----------------------------------------------------


def to_esrgan_new(sd):
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", k)
        for a, b in [
            ("conv_body", "trunk_conv"),
            ("conv_up1", "upconv1"),
            ("conv_up2", "upconv2"),
            ("conv_hr", "HRconv"),
        ]:
            k = k.replace(a + ".", b + ".") if k.startswith(a + ".") else k
        out[k] = v
    return out


def to_esrgan_old(sd, num_block):
    names = {"conv_first": "model.0", "conv_body": f"model.1.sub.{num_block}", "conv_up1": "model.3",
             "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}  # fmt: skip
    out = {}
    for k, v in sd.items():
        m = re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)$", k)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            module, param = k.rsplit(".", 1)
            out[f"{names[module]}.{param}"] = v
    return out


def to_edsr_pytorch(sd, num_block, rgb_mean=(0.4488, 0.4371, 0.4040), rgb_range=255.0):
    out = {}
    for k, v in sd.items():
        module, param = k.rsplit(".", 1)
        m = re.match(r"body\.(\d+)\.conv(\d)$", module)
        if m:
            module = f"body.{m[1]}.body.{0 if m[2] == '1' else 2}"
        elif module == "conv_first":
            module = "head.0"
        elif module == "conv_after_body":
            module = f"body.{num_block}"
        elif module.startswith("upsample."):
            module = "tail.0." + module.split(".")[1]
        elif module == "conv_last":
            module = "tail.1"
        out[f"{module}.{param}"] = v
    mean = torch.tensor(rgb_mean)
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):  # EDSR-PyTorch's MeanShift: a fixed 1x1 conv
        out[f"{name}.weight"] = torch.eye(3).view(3, 3, 1, 1)
        out[f"{name}.bias"] = sign * rgb_range * mean
    return out


def to_kair_msrresnet(sd):
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^body\.(\d+)\.", r"recon_trunk.\1.", k)
        k = re.sub(r"^conv_hr\.", "HRconv.", k)
        out[k] = v
    return out


def noise_like(sd):
    return {k: torch.randn_like(v) for k, v in sd.items()}


CASES = {
    # name: (srlib preset, build the file's content from the srlib state dict, expected layout)
    "basicsr_params_ema": ("rrdbnet", lambda sd: {"params": noise_like(sd), "params_ema": sd}, "basicsr"),
    "basicsr_params": ("rrdbnet", lambda sd: {"params": sd}, "basicsr"),
    "realesrgan_x2": ("rrdbnet", lambda sd: {"params_ema": sd}, "basicsr"),
    "mmagic_ema": (
        "rrdbnet",
        lambda sd: {
            "meta": {"iter": 5},
            "state_dict": {
                **{f"generator.{k}": v for k, v in noise_like(sd).items()},
                **{f"generator_ema.{k}": v for k, v in sd.items()},
                "discriminator.conv0_0.weight": torch.zeros(1),
            },
        },
        "basicsr",
    ),  # fmt: skip
    "mmagic": ("rrdbnet", lambda sd: {"state_dict": {f"generator.{k}": v for k, v in sd.items()}}, "basicsr"),
    "esrgan_new": ("rrdbnet", to_esrgan_new, "esrgan_new"),
    "esrgan_new_dataparallel": (
        "rrdbnet",
        lambda sd: {f"module.{k}": v for k, v in to_esrgan_new(sd).items()},
        "esrgan_new",
    ),  # fmt: skip
    "esrgan_old": ("rrdbnet", lambda sd: to_esrgan_old(sd, 2), "esrgan_old"),
    "basicsr_edsr": ("edsr", lambda sd: {"params": sd}, "basicsr"),
    "edsr_pytorch": ("edsr", lambda sd: to_edsr_pytorch(sd, 2), "edsr_pytorch"),
    "basicsr_msrresnet": ("msrresnet", lambda sd: {"params": sd}, "basicsr"),
    "kair_msrresnet": ("msrresnet", to_kair_msrresnet, "kair_msrresnet"),
    "srlib_srresnet": ("srresnet", lambda sd: sd, "basicsr"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_layout_round_trip(case, tmp_path):
    preset, build_file, layout = CASES[case]
    model = small_model(preset, scale=2) if case == "realesrgan_x2" else small_model(preset)
    content = build_file(model.state_dict())
    path = tmp_path / "checkpoint.pth"
    torch.save(content, path)

    assert weights.detect_layout(weights.load_state_dict_file(path)) == layout
    loaded = weights.load_model(path)  # no name: the architecture and sizes come from the file
    assert type(loaded) is type(model) and not loaded.training
    assert same_output(loaded, model)
    assert weights.load_model(path, preset).state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize("rgb_range", [255.0, 1.0])  # released models use 255; --rgb_range 1 trains on [0, 1]
def test_edsr_pytorch_mean_and_range_are_read(tmp_path, rgb_range):
    mean = (0.5, 0.4, 0.3)
    model = small_model("edsr", rgb_mean=mean, img_range=rgb_range)
    path = tmp_path / "edsr.pt"
    torch.save(to_edsr_pytorch(model.state_dict(), 2, rgb_mean=mean, rgb_range=rgb_range), path)
    loaded = weights.load_model(path)
    assert loaded.img_range == rgb_range
    assert torch.allclose(loaded.mean.flatten(), torch.tensor(mean))
    assert same_output(loaded, model)


def test_edsr_size_inferred_and_res_scale_convention(tmp_path):
    path = tmp_path / "edsr.pt"
    torch.save(to_edsr_pytorch(small_model("edsr", num_feat=8, num_block=3, scale=3).state_dict(), 3), path)
    loaded = weights.load_model(path)
    assert (loaded.scale, len(loaded.body), loaded.body[0].res_scale) == (3, 3, 1.0)
    assert weights.load_model(path, res_scale=0.1).body[0].res_scale == 0.1  # overrides win


def test_srlib_safetensors_round_trip_needs_no_name(tmp_path):
    model = small_model("edsr", res_scale=0.1, rgb_mean=(0.1, 0.2, 0.3))
    path = weights.save_weights(model, tmp_path / "m.safetensors", metadata={"note": "test", "step": 3})
    meta = weights.read_metadata(path)
    assert meta["srlib_arch"] == "edsr" and meta["note"] == "test" and meta["step"] == "3"
    loaded = weights.load_model(path)
    assert loaded.body[0].res_scale == 0.1 and same_output(loaded, model)


# ---- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"srlib_arch": "edsr", "srlib_kwargs": "{not json"}, "bad srlib metadata"),
        ({"srlib_arch": "nonsense", "srlib_kwargs": "{}"}, "bad srlib metadata"),
        ({"srlib_arch": "edsr", "srlib_kwargs": "[1, 2]"}, "bad srlib metadata"),
        ({"srlib_arch": "edsr", "srlib_kwargs": '{"num_feet": 8}'}, "metadata does not build 'edsr'"),
    ],
)
def test_bad_safetensors_metadata_is_named(tmp_path, metadata, message):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in small_model("edsr").state_dict().items()}
    path = tmp_path / "edited.safetensors"
    save_file(state, str(path), metadata=metadata)
    with pytest.raises(ValueError, match=rf"edited\.safetensors.*{message}"):
        weights.load_model(path)


class Payload:
    def __reduce__(self):  # unpickling this would call print: a stand-in for arbitrary code
        return (print, ("unpickled!",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(ValueError, match="does not unpickle"):
        weights.load_model(path)
    assert "unpickled!" not in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_and_corrupt_files(tmp_path, suffix):
    model = small_model("msrresnet")
    good = tmp_path / f"good{suffix}"
    if suffix == ".pth":
        torch.save(model.state_dict(), good)
    else:
        weights.save_weights(model, good)
    data = good.read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    (tmp_path / f"junk{suffix}").write_bytes(b"not a checkpoint at all" * 10)
    for name in ("cut", "junk"):
        with pytest.raises(ValueError, match="truncated or corrupt"):
            weights.load_model(tmp_path / f"{name}{suffix}")
    with pytest.raises(FileNotFoundError):
        weights.load_model(tmp_path / f"missing{suffix}")


def test_wrong_architecture_lists_missing_and_unexpected(tmp_path):
    path = tmp_path / "rrdb.pth"
    torch.save(small_model("rrdbnet").state_dict(), path)
    with pytest.raises(ValueError, match=r"holds RRDBNet weights.*missing: .*unexpected: "):
        weights.load_model(path, "edsr")
    with pytest.raises(ValueError, match=r"missing: body\.2\."):
        weights.load_model(path, "rrdbnet", num_block=3)


def test_unknown_layout_is_named(tmp_path):
    with pytest.raises(ValueError, match="unrecognised checkpoint layout"):
        weights.detect_layout({"encoder.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="not a state dict of tensors"):
        weights.unwrap_checkpoint({"params": {"a": 1}})


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
    converted = weights.ncnn_to_state_dict(param, data, num_block=2)
    assert converted.keys() == sd.keys()
    assert all(torch.equal(converted[k], sd[k]) for k in sd)
    loaded = weights.load_model(weights.save_weights(converted, tmp_path / "tiny.safetensors"))
    assert same_output(loaded, model)


def test_ncnn_fp16_rounds_like_numpy():
    sd = tiny_rrdbnet().state_dict()
    converted = weights.ncnn_to_state_dict(*rrdbnet_to_ncnn(sd, 2, fp16=lambda i: True))
    w = sd["conv_first.weight"]
    assert torch.equal(converted["conv_first.weight"], w.half().float()) and not torch.equal(w.half().float(), w)


def test_ncnn_bad_files_are_refused():
    sd = tiny_rrdbnet().state_dict()
    param, data = rrdbnet_to_ncnn(sd, 2)
    with pytest.raises(ValueError, match="bytes left"):
        weights.ncnn_to_state_dict(param, data + b"\0" * 8)
    with pytest.raises(ValueError, match="truncated"):
        weights.ncnn_to_state_dict(param, data[:-100])
    with pytest.raises(ValueError, match="expected 23 RRDB blocks"):
        weights.ncnn_to_state_dict(param, data, num_block=23)
    with pytest.raises(ValueError, match="unsupported weight storage tag"):
        weights.ncnn_to_state_dict(param, struct.pack("<I", 0x000D4B38) + data[4:])
    wrong_channels = param.replace("0=4 1=3", "0=5 1=3", 1)
    with pytest.raises(ValueError, match="wrong channels"):
        weights.ncnn_to_state_dict(wrong_channels, data)
    no_act = param.replace(" 9=2 -23310=1,2.000000e-01", "", 1)
    with pytest.raises(ValueError, match="wrong activation"):
        weights.ncnn_to_state_dict(no_act, data)
    with pytest.raises(ValueError, match="unexpected layer types"):
        weights.ncnn_to_state_dict(param.replace("Interp", "Deconvolution", 1), data)
    with pytest.raises(ValueError, match="not an ncnn"):
        weights.ncnn_to_state_dict("hello\n", data)


def test_ncnn_runtime_agrees(tmp_path, unavailable):
    """The ncnn runtime itself runs the synthetic graph: same output as the converted model (skip locally
    without ncnn; on CI, where the dev extras install it, a missing runtime fails)."""
    try:
        import ncnn
    except ImportError:
        unavailable("the ncnn runtime is not installed (pip install ncnn, in the dev extras)")
    model = tiny_rrdbnet()
    param, data = rrdbnet_to_ncnn(model.state_dict(), 2, fp16=lambda i: False)
    (tmp_path / "m.param").write_text(param)
    (tmp_path / "m.bin").write_bytes(data)
    net = ncnn.Net()
    for option in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, option, False)
    assert net.load_param(str(tmp_path / "m.param")) == 0 and net.load_model(str(tmp_path / "m.bin")) == 0
    x = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(x).clone())
    ret, out = extractor.extract("output")
    reference = np.array(out).copy()
    converted = build_model("rrdbnet", **SMALL["rrdbnet"] | dict(num_feat=8, num_grow_ch=4)).eval()
    converted.load_state_dict(weights.ncnn_to_state_dict(param, data))
    with torch.no_grad():
        ours = converted(torch.from_numpy(x)[None])[0].numpy()
    assert ret == 0 and reference.shape == ours.shape == (3, 32, 32)
    assert np.abs(reference - ours).max() < 1e-4
