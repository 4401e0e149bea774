"""``srlib upscale``: image files or folders through ``srlib.infer.upscale``, names kept, inputs never overwritten.

``plan_outputs`` decides every output path before any work (and refuses anything that would write over an input);
``--model-arg`` (``add_model_arg`` / ``parse_model_args``, shared with ``srlib evaluate``) sets what a checkpoint
cannot carry.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from srlib.hub import resolve_model
from srlib.infer import ALPHA_MODES, MAX_OUTPUT_PIXELS, PRECISIONS, upscale
from srlib.io import IMAGE_EXTENSIONS, list_images, load_image, write_image
from srlib.utils import pick_device, positive_int


def _gather_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise FileNotFoundError(f"no images in folder {path}")
            files.extend(Path(f) for f in found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"input {path} does not exist")
    return files


def plan_outputs(inputs: list[str], output: str, overwrite: bool = False) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs, refusing anything that would overwrite an input.

    ``output`` is a folder, or a file name when there is one input file and it has an image suffix. Names
    are kept; an output folder that is one of the input folders is refused, and so is an output that is an
    input under another name (a hard link: same inode). Outputs that exist already are refused unless
    ``overwrite``. Nothing is created here.
    """
    files = _gather_inputs(inputs)
    out = Path(output)
    single_file = len(files) == 1 and out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir()
    if not single_file:
        in_dirs = {Path(i).resolve() for i in inputs if Path(i).is_dir()} | {f.parent.resolve() for f in files}
        if out.resolve() in in_dirs:
            raise ValueError(f"output folder {out} is an input folder; choose another -o so no input is overwritten")
    targets = [out] if single_file else [out / f.name for f in files]
    sources = {f.resolve() for f in files}
    inodes = {(f.stat().st_dev, f.stat().st_ino) for f in files}  # a hard link has another name, same inode
    seen: dict[Path, Path] = {}
    existing = []
    for f, target in zip(files, targets, strict=True):
        if target.resolve() in sources or (target.exists() and (target.stat().st_dev, target.stat().st_ino) in inodes):
            raise ValueError(f"writing {target} would overwrite an input (the same file); choose another -o")
        if target.resolve() in seen:
            raise ValueError(f"{f} and {seen[target.resolve()]} would both be written to {target}")
        seen[target.resolve()] = f
        if target.exists():
            existing.append(target)
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]}{more} exist(s) already; pass --overwrite to replace, or choose another -o")
    return list(zip(files, targets, strict=True))


def _writable_folder(folder: Path) -> None:
    """Create ``folder`` and make sure a file can be written there, before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise RuntimeError(f"cannot write to {folder} ({error.strerror or error}); choose another -o") from None


def _write_replacing(target: Path, image, bit_depth: int) -> None:
    """Write beside ``target`` and rename over it: a failure leaves no half-written file, and a hard link
    at ``target`` is replaced rather than written through."""
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        write_image(partial, image, bit_depth=bit_depth)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def parse_model_args(items: list[str] | None) -> dict:
    """``["res_scale=0.1", "scale=3"]`` -> ``{"res_scale": 0.1, "scale": 3}`` (numbers and true/false parsed)."""
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model-arg {item!r}: expected KEY=VALUE, e.g. res_scale=0.1")
        out[key.strip()] = _literal(text.strip())
    return out


def _literal(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def add_model_arg(parser: argparse.ArgumentParser) -> None:
    """``--model-arg KEY=VALUE`` (repeatable), shared by srlib upscale and srlib evaluate."""
    parser.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting the checkpoint cannot carry, e.g. res_scale=0.1 for an EDSR trained with "
        "--res_scale 0.1, scale=3 for a KAIR x3 RRDB (repeatable)",
    )


def _cli_upscale(args) -> int:
    pairs = plan_outputs(args.inputs, args.output, overwrite=args.overwrite)
    for folder in dict.fromkeys(target.parent for _, target in pairs):
        _writable_folder(folder)
    model = resolve_model(args.model, args.scale, **parse_model_args(args.model_arg))
    device = pick_device(args.device)
    failures = []
    for source, target in tqdm(pairs, desc="upscaling", unit="image"):
        try:  # one bad file (unreadable, too large, out of memory) does not stop the others
            image, bit_depth = load_image(source)
            sr = upscale(
                model,
                image,
                scale=args.scale,
                tile=args.tile,
                tile_pad=args.tile_pad,
                ensemble=args.ensemble,
                device=device,
                precision=args.precision,
                alpha=args.alpha,
                progress=True,
                max_output_pixels=args.max_pixels,
            )
            _write_replacing(target, sr, bit_depth)
        except (ValueError, RuntimeError, OSError) as error:
            failures.append(source)
            message = str(error) if str(source) in str(error) else f"{source}: {error}"
            tqdm.write(f"srlib upscale: failed: {message}", file=sys.stderr)
    done = len(pairs) - len(failures)
    print(f"wrote {done} of {len(pairs)} image(s) x{args.scale} with {args.model} to {args.output}")
    if failures:
        print(f"srlib upscale: {len(failures)} image(s) failed (listed above)", file=sys.stderr)
        return 1
    return 0


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "upscale",
        help="upscale image files or folders with a model",
        description="Upscale images (files or folders) with a model; names are kept, inputs never overwritten.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    parser.add_argument("-o", "--output", required=True, help="output folder (or file, for one input file)")
    parser.add_argument("--model", required=True, help="'bicubic', a pretrained name or a checkpoint path")
    parser.add_argument("--scale", type=positive_int, default=4, help="upscaling factor")
    parser.add_argument("--tile", type=positive_int, default=None, help="tile side in input pixels (default: whole)")
    parser.add_argument(
        "--tile-pad",
        type=int,
        default=None,
        help="context pixels read around each tile (default: the pad measured for the weights, else the family's)",
    )
    parser.add_argument("--ensemble", action="store_true", help="x8 geometric self-ensemble (8x slower)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if present)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16 on a CPU with native bf16 (fp32 when tiled), else fp32",
    )
    parser.add_argument("--alpha", choices=ALPHA_MODES, default="bicubic", help="how RGBA alpha is upscaled")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist (never an input)")
    parser.add_argument(
        "--max-pixels", type=positive_int, default=MAX_OUTPUT_PIXELS, help="refuse larger outputs (memory)"
    )
    add_model_arg(parser)
    parser.set_defaults(func=_cli_upscale)
