"""srlib.train: configs, exact resume, NaN stop, Ctrl-C, DDP on the CPU, network interpolation."""

from __future__ import annotations

import math
import os
import signal
import socket

import pytest
import torch
import torch.multiprocessing as mp
import yaml
from torch.utils.data import Dataset

import srlib.train as T
from srlib.train.build import build_parts, lr_factor
from srlib.train.checkpoint import atomic_save, load_checkpoint


class TinyPairs(Dataset):
    """Random HR patches and their 2x2-average LR; a random flip draws from the global torch RNG (as an
    augmenting dataset does), so resume must restore RNG states to match."""

    def __init__(self, n: int = 12, size: int = 16, scale: int = 4, seed: int = 1):
        g = torch.Generator().manual_seed(seed)
        self.hr = [torch.rand(3, size, size, generator=g) for _ in range(n)]
        self.scale = scale

    def __len__(self):
        return len(self.hr)

    def __getitem__(self, i):
        hr = self.hr[i]
        if torch.rand(()) < 0.5:
            hr = hr.flip(-1)
        lr = torch.nn.functional.avg_pool2d(hr[None], self.scale)[0]
        return {"lr": lr, "hr": hr, "name": f"{i}"}


def tiny_config(mode: str = "psnr", **changes) -> T.TrainConfig:
    base = dict(
        model="edsr_baseline",
        model_kwargs=dict(num_feat=8, num_block=1),
        patch_size=32,
        batch_size=2,
        total_steps=8,
        lr=1e-3,
        val_every=4,
        ckpt_every=4,
        log_every=1,
        train_sets=["tiny"],
        data_tag="tiny",
    )
    if mode != "psnr":
        base.update(
            mode=mode,
            discriminator="vgg_discriminator",
            perceptual="none",
            discriminator_kwargs=dict(num_feat=4, input_size=32, adaptive_pool=True),
            pixel_weight=1e-2,
            adversarial_weight=5e-3,
        )
    return T.replace(T.TrainConfig(**base), **changes)


def tiny_data():
    return TinyPairs(12, size=32), TinyPairs(2, size=32, seed=2)


def weights(path):
    state = load_checkpoint(path)
    return state["G"], state["D"]


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------------------------------- configs


def test_presets_build_and_names_carry_settings():
    for name, cfg in T.PRESETS.items():
        assert isinstance(cfg, T.TrainConfig), name
        assert cfg.patch_size % cfg.scale == 0
    assert T.run_name(T.PRESETS["esrgan_paper"]) == "ESRGAN_x4_f64b23_DIV2K_400k_B16P128_conv54imagenet"
    assert T.run_name(T.PRESETS["edsr_paper"]).startswith("EDSR_x4_f256b32_DIV2K_300k_B16P192")
    assert T.PRESETS["edsr_paper"].init_from == "edsr_x2_paper"  # x4 starts from x2 (EDSR paper)
    esrgan = T.PRESETS["esrgan_paper"]
    assert (esrgan.lr, esrgan.betas, esrgan.adversarial_weight, esrgan.pixel_weight) == (1e-4, (0.9, 0.99), 5e-3, 1e-2)
    assert T.PRESETS["srgan_paper"].adversarial_weight == 1e-3


def test_presets_are_the_commented_yaml_files_each_listing_only_what_differs():
    """One preset per srlib/train/presets/<name>.yaml: a comment says what it is, and every key it sets differs
    from what it starts from (TrainConfig's defaults, or its ``base:`` preset), so nothing is stated twice."""
    from srlib.train.config import PRESETS_DIR

    files = sorted(PRESETS_DIR.glob("*.yaml"))
    assert {path.stem for path in files} == set(T.PRESETS)
    for path in files:
        text = path.read_text()
        assert text.startswith("# "), f"{path.name}: start with a comment saying what the preset is"
        values = yaml.safe_load(text)
        base = values.pop("base", None)
        start = T.to_dict(T.PRESETS[base] if base else T.TrainConfig())
        mine = T.to_dict(T.PRESETS[path.stem])
        same = sorted(key for key in values if mine[key] == start[key])
        assert not same, f"{path.name} repeats what it starts from: {same}"


def test_a_preset_starting_from_another_preset_has_its_generator():
    for name, cfg in T.PRESETS.items():
        if cfg.init_from in T.PRESETS:
            source = T.PRESETS[cfg.init_from]
            assert (cfg.model, cfg.model_kwargs) == (source.model, source.model_kwargs), name


def test_preset_file_errors_name_the_file(tmp_path):
    from srlib.train.config import read_presets

    with pytest.raises(FileNotFoundError, match="no training presets"):
        read_presets(tmp_path)
    (tmp_path / "a.yaml").write_text("# a\nlr: 1e-3\n")
    (tmp_path / "b.yaml").write_text("# b, from a\nbase: a\ntotal_steps: 7\n")
    presets = read_presets(tmp_path)
    assert (presets["b"].lr, presets["b"].total_steps) == (1e-3, 7)
    (tmp_path / "c.yaml").write_text("learning_rate: 1e-3\n")
    with pytest.raises(ValueError, match=r"c\.yaml: unknown TrainConfig keys \['learning_rate'\]"):
        read_presets(tmp_path)
    (tmp_path / "c.yaml").write_text("base: d\n")
    (tmp_path / "d.yaml").write_text("base: c\n")
    with pytest.raises(ValueError, match=r"\.yaml: base '[cd]' is not another preset"):
        read_presets(tmp_path)
    (tmp_path / "c.yaml").write_text("- lr\n")
    with pytest.raises(ValueError, match=r"c\.yaml: a config file holds `key: value` lines"):
        read_presets(tmp_path)


def test_yaml_round_trip_and_unknown_keys_fail(tmp_path):
    cfg = T.replace(T.PRESETS["edsr_quick"], lr=3e-4, milestones=[10, 20])
    path = T.save_config(cfg, tmp_path / "run.yaml")
    assert T.load_config(path) == cfg
    (tmp_path / "base.yaml").write_text("base: esrgan_quick\ntotal_steps: 7\n")
    assert T.load_config(tmp_path / "base.yaml").total_steps == 7
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"lr": 1e-4, "learning_rate": 1e-4}))
    with pytest.raises(ValueError, match="learning_rate"):
        T.load_config(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError):
        T.load_config("no_such_preset")


def test_overrides_parse_yaml_values():
    cfg = T.parse_overrides(T.PRESETS["edsr_quick"], ["lr=2e-4", "milestones=[5, 9]", "amp=bf16", "gamma=1"])
    assert cfg.lr == 2e-4 and cfg.milestones == [5, 9] and cfg.amp == "bf16" and cfg.gamma == 1.0
    with pytest.raises(ValueError, match="nonsense"):
        T.parse_overrides(cfg, ["nonsense=3"])
    with pytest.raises(ValueError, match="mode"):
        T.parse_overrides(cfg, ["mode=wgan"])


def test_lr_schedule_warmup_then_milestones():
    assert lr_factor(0, 4, [10], 0.5) == 0.25
    assert lr_factor(3, 4, [10], 0.5) == 1.0
    assert lr_factor(9, 0, [10, 20], 0.5) == 1.0
    assert lr_factor(10, 0, [10, 20], 0.5) == 0.5
    assert lr_factor(25, 0, [10, 20], 0.5) == 0.25


def test_missing_imagenet_vgg_is_never_silent(monkeypatch):
    from srlib import losses

    monkeypatch.setattr(losses, "vgg19_weights_available", lambda: False)
    cfg = tiny_config("esrgan", perceptual="conv54", perceptual_weights="imagenet", perceptual_fallback="error")
    with pytest.raises(FileNotFoundError, match="perceptual_fallback"):
        T.build_perceptual(cfg)
    with pytest.warns(UserWarning, match="instead"):
        module, label = T.build_perceptual(T.replace(cfg, perceptual_fallback="none"))
    assert module is None and label == "nopercep"
    with pytest.warns(UserWarning, match="instead"):
        module, label = T.build_perceptual(T.replace(cfg, perceptual_fallback="random"))
    assert label == "conv54random" and module is not None
    assert T.run_name(cfg, label).endswith("_conv54random")


# -------------------------------------------------------------------------------------------- the loop


def test_psnr_training_learns_and_writes_its_files(tmp_path):
    result = T.train(
        tiny_config(total_steps=24, val_every=12, lr=3e-3),
        run_dir=tmp_path / "run",
        datasets=tiny_data(),
        progress=False,
    )
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.yaml", "log.csv", "best.safetensors", "final.safetensors", "curves.png", "summary.json"} <= files
    rows = T.read_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 24 and rows[-1]["val_psnr"] != ""
    assert math.isfinite(result.best_psnr) and result.step == 24
    # it learns: the same run with a zero learning rate (same seed, batches and validation) ends lower
    T.train(
        tiny_config(total_steps=24, val_every=12, lr=0.0),
        run_dir=tmp_path / "frozen",
        datasets=tiny_data(),
        progress=False,
    )
    frozen_psnr = float(T.read_log(tmp_path / "frozen" / "log.csv")[-1]["val_psnr"])
    assert float(rows[-1]["val_psnr"]) > frozen_psnr + 0.2, (rows[-1]["val_psnr"], frozen_psnr)  # +0.46 dB here
    from srlib.weights import load_model

    model = load_model(tmp_path / "run" / "best.safetensors")  # srlib.weights rebuilds it from the metadata
    assert model(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize("mode, amp", [("psnr", "none"), ("esrgan", "none"), ("srgan", "none"), ("esrgan", "bf16")])
def test_resume_continues_exactly(tmp_path, mode, amp):
    """2N steps straight == N steps, stop, resume, N steps (weights of G and D bit for bit), in fp32 and under
    bf16 autocast (fp32 master weights)."""
    changes = dict(total_steps=8, ckpt_every=3, ema_decay=0.9, warmup_steps=2, milestones=[5], amp=amp)
    if mode == "srgan":
        changes.update(
            model="srresnet",
            discriminator="srgan_discriminator",
            discriminator_kwargs=dict(num_feat=4, input_size=32),
            pixel_loss="mse",
        )
    cfg = tiny_config(mode, **changes)
    T.train(cfg, run_dir=tmp_path / "straight", datasets=tiny_data(), progress=False)
    # a different process state in between must not matter
    torch.manual_seed(123)
    stopped = T.train(
        cfg, run_dir=tmp_path / "split", datasets=tiny_data(), progress=False, hook=lambda step, losses: step == 5
    )  # stop after step 5 (mid-epoch: 6 batches/epoch)
    assert stopped.stopped_early and stopped.step == 5
    torch.manual_seed(456)
    T.train(cfg, run_dir=tmp_path / "split", datasets=tiny_data(), progress=False, resume=True)
    g1, d1 = weights(tmp_path / "straight" / "checkpoints" / "last.pt")
    g2, d2 = weights(tmp_path / "split" / "checkpoints" / "last.pt")
    assert_same(g1, g2)
    if mode != "psnr":
        assert_same(d1, d2)
    ema1 = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")["ema"]
    ema2 = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["ema"]
    assert_same(ema1, ema2)
    log = T.read_log(tmp_path / "split" / "log.csv")
    assert [int(r["step"]) for r in log] == list(range(1, 9))  # no duplicated rows after the resume
    # the training time of the first session is carried over, not restarted at zero
    first = float(log[4]["elapsed_s"])
    assert float(log[5]["elapsed_s"]) > first > 0


def test_amp_auto_is_bf16_only_where_native(monkeypatch, capsys, tmp_path):
    from srlib.models import fast
    from srlib.train.config import resolve_amp

    cpu = torch.device("cpu")
    monkeypatch.setattr(fast, "cpu_has_native_bf16", lambda: True)
    assert resolve_amp("auto", cpu) == ("bf16", None)
    monkeypatch.setattr(fast, "cpu_has_native_bf16", lambda: False)
    amp, note = resolve_amp("auto", cpu)
    assert amp == "none" and "training in fp32" in note
    assert resolve_amp("fp16", cpu)[0] == "none"
    assert resolve_amp("bf16", cpu)[0] == "bf16" and "emulated" in resolve_amp("bf16", cpu)[1]
    T.train(tiny_config(total_steps=2, amp="auto"), run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    out = capsys.readouterr().out
    assert "autocast none" in out and "amp auto: no native bf16 on cpu, training in fp32" in out
    assert all(T.PRESETS[name].amp == "auto" for name in T.PRESETS if name.endswith(("_quick", "_course")))


def test_bf16_step_computes_in_bf16_and_keeps_fp32_weights():
    cfg = tiny_config(amp="bf16")
    from srlib.models import build_model
    from srlib.train.step import Step

    G = build_model(cfg.model, scale=4, **cfg.model_kwargs)
    seen = []
    G.conv_first.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    step = Step(cfg, G, None, torch.optim.Adam(G.parameters()), None, None, torch.device("cpu"), 1)
    step.psnr_step(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32))
    assert seen == [torch.bfloat16]
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in G.parameters())


def test_a_second_run_in_the_same_folder_needs_resume(tmp_path):
    cfg = tiny_config(total_steps=2, ckpt_every=1)
    T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    with pytest.raises(FileExistsError, match="resume"):
        T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    def poison(step, losses):
        if step == 5:  # after the step-4 checkpoint: make the next loss NaN
            with torch.no_grad():
                next(model_of_run.parameters()).fill_(float("nan"))

    cfg = tiny_config(total_steps=8, ckpt_every=4)
    # reach the generator through the optimiser-free route: a hook that finds it in the closure below
    import srlib.train.build as build

    original = build.build_model

    def capture(*args, **kwargs):
        global model_of_run
        model_of_run = original(*args, **kwargs)
        return model_of_run

    build.build_model = capture
    try:
        with pytest.raises(RuntimeError, match=r"diverged.*last checkpoint with a finite loss .*step 4"):
            T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False, hook=poison)
    finally:
        build.build_model = original
    state = load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())


def test_ctrl_c_saves_and_returns(tmp_path):
    def interrupt(step, losses):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during step 3

    cfg = tiny_config(total_steps=8, ckpt_every=100)
    result = T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False, hook=interrupt)
    # the flag is seen at the end of the next step at the latest; no step is lost
    assert result.stopped_early and result.step in (3, 4)
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["step"] == result.step


def test_atomic_save_leaves_no_partial_file(tmp_path):
    path = atomic_save({"a": torch.ones(2)}, tmp_path / "x.pt")
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert not (tmp_path / "x.pt.tmp").exists()


# ------------------------------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker_save(rank, world, port, out_dir, mode):
    """Train, then every rank writes its own final generator weights for the parent to compare."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    import torch.distributed as dist

    cfg = tiny_config(mode, total_steps=4, ckpt_every=4, val_every=4)
    result = T.train(cfg, run_dir=f"{out_dir}/run", datasets=tiny_data(), progress=False)
    torch.save(result.model.state_dict(), f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["psnr", "esrgan"])
def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path, mode):
    mp.spawn(_ddp_worker_save, args=(2, _free_port(), str(tmp_path), mode), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    assert_same(a, b)
    start = T.train(
        tiny_config(mode, total_steps=0), run_dir=tmp_path / "init", datasets=tiny_data(), progress=False
    ).model.state_dict()
    assert any(not torch.equal(a[k], start[k]) for k in a)  # and they did train
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()  # written by rank 0


# --------------------------------------------------------------------------------------- interpolation


def test_interpolate_networks():
    from srlib.models import build_model

    psnr = build_model("srresnet", num_feat=8, num_block=1).state_dict()
    gan = build_model("srresnet", num_feat=8, num_block=1).state_dict()
    assert_same(
        T.interpolate_networks(psnr, gan, 0.0), {k: v if v.is_floating_point() else gan[k] for k, v in psnr.items()}
    )
    assert_same(T.interpolate_networks(psnr, gan, 1.0), gan)
    half = T.interpolate_networks(psnr, gan, 0.5)
    k = "head.0.weight"
    assert torch.allclose(half[k], (psnr[k] + gan[k]) / 2)
    with pytest.raises(ValueError, match="alpha"):
        T.interpolate_networks(psnr, gan, 1.5)
    other = build_model("srresnet", num_feat=8, num_block=2).state_dict()
    with pytest.raises(ValueError, match="same architecture"):
        T.interpolate_networks(psnr, other, 0.5)


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_parses_preset_and_overrides():
    from srlib.cli import build_parser

    args = build_parser().parse_args(["train", "edsr_quick", "--resume", "--out", "x", "--set", "lr=1e-3"])
    assert args.config == "edsr_quick" and args.resume and args.out == "x" and args.set == ["lr=1e-3"]
    assert args.func is T._cli_train


# ------------------------------------------------------------------------------------------ model cards


# ------------------------------------------------------------------------- untrusted files, divergence, resume


class _RunsCode:
    """Unpickling this calls os.mkdir(marker): what a crafted checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_crafted_pickles_run_no_code_as_init_from_or_resume(tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.pth"
    torch.save({"G": {"conv_first.weight": _RunsCode(marker)}}, evil)
    with pytest.raises(ValueError, match=r"evil\.pth holds pickled Python objects"):
        T.train(tiny_config(init_from=str(evil)), run_dir=tmp_path / "a", datasets=tiny_data(), progress=False)
    run = tmp_path / "b"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"step": _RunsCode(marker)}, run / "checkpoints" / "last.pt")
    with pytest.raises(ValueError, match=r"last\.pt holds pickled Python objects"):
        T.train(tiny_config(), run_dir=run, datasets=tiny_data(), progress=False, resume=True)
    assert not marker.exists()


def test_checkpoints_load_with_weights_only_and_old_numpy_rng_states_still_load(tmp_path):
    import random

    import numpy as np

    from srlib.train.checkpoint import rng_state, set_rng_state

    T.train(tiny_config(total_steps=2, ckpt_every=2), run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    state = torch.load(tmp_path / "r" / "checkpoints" / "last.pt", weights_only=True)  # plain torch, no allowlist
    assert state["step"] == 2
    # before srlib stored tensors, the numpy state was a pickled array: still read, without unpickling code
    old = {"rng": [{"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}]}
    torch.save(old, tmp_path / "old.pt")
    expected = np.random.rand(3)
    set_rng_state(load_checkpoint(tmp_path / "old.pt")["rng"][0])
    assert np.array_equal(np.random.rand(3), expected)
    saved = rng_state()
    expected = np.random.rand(3)
    set_rng_state(saved)
    assert np.array_equal(np.random.rand(3), expected)


def test_a_huge_lr_keeps_the_last_checkpoint_whose_loss_was_finite(tmp_path):
    # lr 1e-3 for two steps, then x1e5 (lr 100): step 3's update blows the weights up, step 4's loss shows it.
    # The step-3 checkpoint already holds those weights; the step-2 one (its loss, at step 3, was finite) stays.
    cfg = tiny_config(total_steps=8, ckpt_every=1, milestones=[2], gamma=1e5)
    with pytest.raises(RuntimeError, match=r"at step 4 .*finite loss is .*last\.pt \(step 2\).*step-3 .*diverged\.pt"):
        T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    checkpoints = tmp_path / "r" / "checkpoints"
    assert load_checkpoint(checkpoints / "last.pt")["step"] == 2
    assert load_checkpoint(checkpoints / "diverged.pt")["step"] == 3
    # the advised resume (here: without the lr jump) goes on from step 2 and finishes with finite losses
    result = T.train(T.replace(cfg, milestones=[]), run_dir=tmp_path / "r", datasets=tiny_data(), progress=False,
                     resume=True)  # fmt: skip
    assert result.step == 8
    assert all(math.isfinite(float(row["loss"])) for row in T.read_log(tmp_path / "r" / "log.csv"))


def test_a_run_that_diverges_at_once_keeps_no_diverged_checkpoint(tmp_path):
    with pytest.raises(RuntimeError, match=r"No checkpoint with a finite loss was written .*step-1"):
        T.train(tiny_config(lr=50.0, ckpt_every=1), run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    assert not (tmp_path / "r" / "checkpoints" / "last.pt").exists()
    T.train(tiny_config(total_steps=2), run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)  # start again


def test_resume_applies_schedule_changes_aloud_and_config_yaml_says_so(tmp_path, capsys):
    cfg = tiny_config(total_steps=4, ckpt_every=2)
    T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    longer = T.replace(cfg, total_steps=6, lr=5e-4)
    T.train(longer, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False, resume=True)
    assert "total_steps 4 -> 6, lr 0.001 -> 0.0005" in capsys.readouterr().out
    assert T.load_config(tmp_path / "r" / "config.yaml") == longer
    rows = T.read_log(tmp_path / "r" / "log.csv")
    assert [float(r["lr"]) for r in rows] == [1e-3] * 4 + [5e-4] * 2  # the new lr from the first resumed step


def test_resume_refuses_changes_that_would_change_the_run(tmp_path):
    cfg = tiny_config(total_steps=2, ckpt_every=2)
    T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False)
    before = (tmp_path / "r" / "config.yaml").read_text()
    with pytest.raises(ValueError, match=r"cannot change: batch_size 2 -> 4, seed 0 -> 1.*may change: total_steps"):
        T.train(T.replace(cfg, batch_size=4, seed=1), run_dir=tmp_path / "r", datasets=tiny_data(), progress=False,
                resume=True)  # fmt: skip
    assert (tmp_path / "r" / "config.yaml").read_text() == before


def test_a_truncated_last_checkpoint_is_named_and_the_previous_one_is_kept(tmp_path):
    cfg = tiny_config(total_steps=6, ckpt_every=2)
    T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False, hook=lambda step, losses: step == 4)
    checkpoints = tmp_path / "r" / "checkpoints"
    assert load_checkpoint(checkpoints / "prev.pt")["step"] == 2
    last = checkpoints / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # a disk that filled up, a copy cut short
    with pytest.raises(ValueError, match=r"last\.pt is not a readable PyTorch checkpoint.*rename .*prev\.pt"):
        T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False, resume=True)
    (checkpoints / "prev.pt").replace(last)
    assert T.train(cfg, run_dir=tmp_path / "r", datasets=tiny_data(), progress=False, resume=True).step == 6


def test_cli_train_errors_are_one_line(monkeypatch, capsys):
    from srlib import cli

    def refuse(*args, **kwargs):
        raise FileExistsError("runs/x already holds a run: pass resume=True (--resume) or another run_dir")

    monkeypatch.setattr(T, "train", refuse)
    assert cli.main(["train", "edsr_quick"]) == 2
    assert capsys.readouterr().err.strip() == (
        "srlib train: error: runs/x already holds a run: pass resume=True (--resume) or another run_dir"
    )


# ------------------------------------------------------------------------------------------ distillation


def test_teacher_outputs_are_the_teachers_upscale_of_the_bicubic_lr_computed_once(tmp_path, monkeypatch):
    import numpy as np

    from srlib.data.degrade import bicubic
    from srlib.hub import save_weights
    from srlib.io import read_image, write_image
    from srlib.models import build_model
    from srlib.train.teacher import teacher_outputs

    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(42, 40), (40, 45)]):
        write_image(tmp_path / "images" / f"{i}.png", rng.random((h, w, 3)).astype(np.float32))
    torch.manual_seed(0)
    teacher = build_model("edsr_baseline", scale=4, num_feat=8, num_block=1).eval()
    path = save_weights(teacher, tmp_path / "tiny-teacher.safetensors")
    out = teacher_outputs(str(path), tmp_path / "images", 4, precision="fp32", progress=False)
    assert out.name == "images" and out.parent.name == "tinyteacher_bicubicx4_fp32"
    for i, size in enumerate([(40, 40), (40, 44)]):
        hr = read_image(tmp_path / "images" / f"{i}.png")[: size[0], : size[1]]
        lr = torch.from_numpy(bicubic(hr, 4).transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            expected = teacher(lr).clamp(0, 1)[0].numpy().transpose(1, 2, 0)
        got = read_image(out / f"{i}.png")
        assert got.shape == (*size, 3) and np.abs(got - expected).max() <= 0.5 / 255 + 1e-6
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert teacher_outputs(str(path), tmp_path / "images", 4, precision="fp32", progress=False) == out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # cached: nothing recomputed
    with pytest.raises(ValueError, match="x4, not x2"):
        teacher_outputs(str(path), tmp_path / "images", 2, progress=False)


@pytest.mark.parametrize("mode", ["psnr", "esrgan"])
def test_a_distilling_run_logs_its_teacher_term_and_says_so_in_its_name(tmp_path, monkeypatch, mode):
    import numpy as np

    from srlib.hub import save_weights
    from srlib.io import write_image
    from srlib.models import build_model

    monkeypatch.setenv("SRLIB_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "images" / f"{i}.png", rng.random((36, 36, 3)).astype(np.float32))
    torch.manual_seed(0)
    path = save_weights(build_model("edsr_baseline", scale=4, num_feat=8, num_block=1), tmp_path / "teach.safetensors")
    cfg = tiny_config(mode, teacher=str(path), teacher_high_pass=1.0, pixel_low_pass=1.0, total_steps=4,
                      train_sets=[str(tmp_path / "images")], val_set=str(tmp_path / "images"))  # fmt: skip
    result = T.train(cfg, run_dir=tmp_path / "run", progress=False)
    assert result.name.endswith("_kdteach")
    rows = T.read_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 4 and all(float(row["teacher"]) > 0 for row in rows)
    # the generator's loss is pixel + weight * teacher (+ the adversarial term in the GAN mode)
    if mode == "psnr":
        assert float(rows[0]["loss"]) == pytest.approx(float(rows[0]["pixel"]) + float(rows[0]["teacher"]), rel=1e-4)


def test_distillation_settings_are_checked():
    with pytest.raises(ValueError, match="teacher needs degradation 'bicubic'"):
        tiny_config(teacher="realsr-df2k", degradation="fritsche_noise")
    with pytest.raises(ValueError, match="pixel_low_pass needs a GAN mode or a teacher"):
        tiny_config(pixel_low_pass=1.0)
    cfg = tiny_config(teacher="realsr-df2k")
    parts = build_parts(cfg, torch.device("cpu"))
    with pytest.raises(ValueError, match="each batch needs the teacher's output"):
        parts.update(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32))
