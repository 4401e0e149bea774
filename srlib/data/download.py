"""Getting files: a URL downloader that resumes, and an archive extractor that writes nothing outside its root."""

from __future__ import annotations

import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path


def _download(url: str, dest: Path, timeout: float) -> None:
    """Fetch ``url`` to ``dest`` through ``dest.part``, resuming a partial file with an HTTP Range."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not done:
            raise
        # 416: nothing left after byte `done`. "Content-Range: bytes */N" says how long the file is: the .part
        # is complete (a crash before the rename), or it is not this file's beginning: start again.
        if error.headers.get("Content-Range", "").strip() == f"bytes */{done}":
            part.rename(dest)
            return
        part.unlink()
        return _download(url, dest, timeout)
    with response:
        if done and response.status != 206:  # the server ignored the Range: start again
            done = 0
        total = response.headers.get("Content-Length")
        total = int(total) + done if total is not None else None
        with (
            open(part, "ab" if done else "wb") as f,
            tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar,
        ):
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
    part.rename(dest)


class _LinkInArchive(tarfile.FilterError):
    pass


def _no_links(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, and no links at all: a link that points inside the staging folder can point
    outside the data root once the folders around it are moved."""
    if member.issym() or member.islnk():
        raise _LinkInArchive(member.name)
    return tarfile.data_filter(member, path)


def _extract(archive: Path, root: Path, moves: dict) -> None:
    """Unpack into a staging folder, apply ``moves`` (nested paths too), merge the rest into ``root``.

    Archives with links or with paths outside the staging folder are refused (RuntimeError); zip members
    are regular files (zipfile writes no links). The staging folder is removed whatever happens.
    """
    staging = root / "downloads" / (archive.name + ".extract")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                t.extractall(staging, filter=_no_links)
        else:
            raise RuntimeError(f"{archive} is neither a zip nor a tar archive")
        for source, dest in moves.items():
            if (staging / source).exists():
                _move(staging / source, root / dest, root)
        for item in staging.iterdir():
            _move(item, root / item.name, root)
    except _LinkInArchive as error:
        raise RuntimeError(
            f"{archive} holds a link ({error}); srlib extracts no links, since one could lead outside the data "
            "root: unpack it by hand if you trust it"
        ) from None
    except tarfile.TarError as error:
        raise RuntimeError(f"{archive}: refused to extract an unsafe or broken member ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move(source: Path, target: Path, root: Path) -> None:
    """Move ``source`` to ``target``, merging into folders that exist: never through a link, never outside
    ``root`` (RuntimeError)."""
    if source.is_symlink() or target.is_symlink():
        link = source if source.is_symlink() else target
        raise RuntimeError(f"{link} is a link; srlib does not extract or merge through links (not written)")
    if not target.resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"{target} lies outside the data root {root} (not written)")
    if target.exists():
        if source.is_dir():
            for child in source.iterdir():
                _move(child, target / child.name, root)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
