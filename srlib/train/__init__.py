"""Training: configs and presets, the loop (PSNR and GAN), checkpoints and resume, DDP, ``srlib train``.

    import srlib.train as T
    result = T.train(T.load_config("edsr_quick"))         # or a YAML file
    T.plot_curves(result.run_dir / "log.csv")

``srlib train edsr_quick --set lr=2e-4 --out runs/`` does the same from the shell; under
``torchrun --nproc_per_node=N -m srlib train ...`` it trains with DistributedDataParallel.
"""

from __future__ import annotations

from srlib.train.build import build_datasets, build_perceptual
from srlib.train.checkpoint import interpolate_networks, load_generator_state, save_generator
from srlib.train.config import (
    PRESETS,
    TrainConfig,
    from_dict,
    load_config,
    parse_overrides,
    replace,
    run_name,
    save_config,
    to_dict,
)
from srlib.train.log import plot_curves, read_log, validation_figure
from srlib.train.loop import TrainResult, train, validate


def _cli_train(args) -> int:
    import os

    import torch.distributed as dist

    cfg = parse_overrides(load_config(args.config), args.set)
    if args.out:
        cfg = replace(cfg, out_root=args.out)
    result = train(cfg, run_dir=args.run_dir, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"{result.name}: step {result.step}, best val Y-PSNR {result.best_psnr:.2f} dB at step "
            f"{result.best_step}, {result.patches_per_s:.1f} HR patches/s, {result.wall_s:.0f} s -> {result.run_dir}"
        )
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a preset or a YAML config",
        description=f"Presets: {', '.join(PRESETS)}. Under torchrun the same command trains with DDP.",
    )
    parser.add_argument("config", help="preset name (e.g. edsr_quick) or YAML file (may say base: PRESET)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    parser.add_argument("--out", help="root folder for runs (default: the config's out_root, runs/)")
    parser.add_argument("--run-dir", help="exact run folder (default: OUT/<run name>)")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, values as YAML (lr=2e-4 milestones=[100,200])",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log files only)")
    parser.set_defaults(func=_cli_train)


__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "add_cli",
    "build_datasets",
    "build_perceptual",
    "from_dict",
    "interpolate_networks",
    "load_config",
    "load_generator_state",
    "parse_overrides",
    "plot_curves",
    "read_log",
    "replace",
    "run_name",
    "save_config",
    "save_generator",
    "to_dict",
    "train",
    "validate",
    "validation_figure",
]
