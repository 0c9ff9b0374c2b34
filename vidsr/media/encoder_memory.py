"""Keep the video encoder's own buffers within ``encode.max_megabytes``.

x264 and x265 hold whole frames: the rate-control lookahead (``rc-lookahead``, 40 frames at x264's medium),
the B-frames waiting to be coded, the reference frames, and per thread a bitstream buffer sized from the
frame. All of it grows with width x height: x264 medium measured 0.49 GB at 1080p and 5.5 GB at 7680x4320
(a 4K source at x2): "out of memory on 4K video". The frame queues of the graph are bounded; this bounds the
encoder. It estimates what the encoder will hold from the settings the encoder itself resolves (preset, tune,
the pipeline's own ``encode.options``, and the thread count as the encoder picks it on this machine), and over
the budget lowers ``rc-lookahead`` first, then the threads, then ``bframes``, then ``ref``, each only as far as
needed, as ``x264-params`` / ``x265-params`` entries. A key the pipeline set itself is never changed. Other
encoders are left as they are.

The decision is a pure function of the encode config, the frame size and pixel format and this machine's CPU
count (x264 and x265 pick their threads from it, unless ``encode.threads`` / ``frame-threads`` is set), so the
stream's encoder and every fresh encoder after a scene cut get the same settings, and a resumed run the same as
the first one on this machine.

The model (``bench/encoder_memory.py`` measures it; fitted on 1280x720 to 3840x2160 encodes of this build, with
glibc's allocation pattern on as vidsr runs, so every allocated byte is resident) counts, for x264:
``fenc`` frames waiting in the lookahead (each its planes plus the half-size lowres planes and the
lookahead's per-macroblock costs, plus ~3 MiB once the block is big enough for huge pages), ``fdec`` reference
frames (planes
interpolated 4x for sub-pel motion search), one bitstream buffer per thread (x264 sizes it ``4 * 0.95**qp * 1.4``
bytes a pixel), and a fixed part; for x265 a per-pixel cost per lookahead frame,
B-frame, reference and frame thread (x265 keeps more per frame: its lowres, motion and analysis data).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["MemoryPlan", "plan_encoder_memory", "estimate_megabytes", "resolved_settings", "encoder_cpus",
           "parse_params"]

MiB = 1 << 20

# x264's presets (common/base.c): rc-lookahead, bframes, ref, subme, b-adapt, mbtree, exhaustive motion search
_X264_DEFAULT = {"lookahead": 40, "bframes": 3, "ref": 3, "subme": 7, "b_adapt": 1, "mbtree": True, "esa": False}
_X264_PRESETS: dict[str, dict[str, Any]] = {
    "ultrafast": {"lookahead": 0, "bframes": 0, "ref": 1, "subme": 0, "b_adapt": 0, "mbtree": False},
    "superfast": {"lookahead": 0, "ref": 1, "subme": 1, "mbtree": False},
    "veryfast": {"lookahead": 10, "ref": 1, "subme": 2},
    "faster": {"lookahead": 20, "ref": 2, "subme": 4},
    "fast": {"lookahead": 30, "ref": 2, "subme": 6},
    "medium": {},
    "slow": {"lookahead": 50, "ref": 5, "subme": 8},
    "slower": {"lookahead": 60, "ref": 8, "subme": 9, "b_adapt": 2},
    "veryslow": {"lookahead": 60, "bframes": 8, "ref": 16, "subme": 10, "b_adapt": 2},
    "placebo": {"lookahead": 60, "bframes": 16, "ref": 16, "subme": 11, "b_adapt": 2, "esa": True},
}
_X264_PRESET_ORDER = list(_X264_PRESETS)  # x264 also takes a preset's index
# x265's presets (common/param.cpp): rc-lookahead, bframes, ref
_X265_PRESETS = {
    "ultrafast": (5, 3, 1), "superfast": (10, 3, 1), "veryfast": (15, 4, 2), "faster": (15, 4, 2),
    "fast": (15, 4, 3), "medium": (20, 4, 3), "slow": (25, 4, 4), "slower": (40, 8, 5), "veryslow": (40, 8, 5),
    "placebo": (60, 8, 5),
}

# x264, fitted by least squares on relative error over 48 encodes from 1280x720 to 3840x2160 (presets ultrafast to
# veryslow, rc-lookahead, threads, bframes, ref varied), rounded up; the fixed bytes a pixel then raised from 3.5
# to 5.0, where bench/encoder_memory.py's 1080p and 4K ultrafast runs measured ~6% more. Bytes a pixel of one
# lookahead frame's block (4:2:0, 8-bit, before its per-macroblock costs) and the MiB it is resident above that
# once x264 asks for huge pages (a block of 1.75 MiB or more); bytes a pixel of one reference frame; the multiple
# of x264's bitstream buffer each thread holds; bytes a pixel and MiB fixed. 7680x4320 (not fitted): 0.997-1.04x
X264_FENC_PX = 2.6
X264_FENC_MIB = 3.3
X264_HUGE_BLOCK = 1.75 * MiB
X264_FDEC_PX = 6.65
X264_THREAD_BUFFER = 1.45
X264_FIXED_PX = 5.0
X264_FIXED_MIB = 14.5
X264_FENC_EXTRA = 2  # frames beyond x264's own frame delay that the lookahead holds
# x265, fitted on 10 encodes at 1080p and 3840x2160 (ultrafast, medium; rc-lookahead, bframes, frame-threads varied),
# rounded up: bytes a pixel per lookahead frame, B-frame, reference, frame thread; bytes a pixel and MiB fixed
X265_PX = {"lookahead": 4.8, "bframes": 9.5, "ref": 3.6, "threads": 12.0, "fixed": 40.0}
X265_FIXED_MIB = 80.0

# x264 threads: frame threads auto = 1.5 per core, sliced threads (PyAV's default thread type) 1 per core
_X264_THREAD_MAX = 128
_X264_LOOKAHEAD_MAX = 250


def encoder_cpus() -> int:
    """The CPUs x264 and x265 count when they pick their threads: this process's affinity mask on Linux."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpus(cpus: int | None) -> int:
    """A caller's CPU count (tests, another machine's figures), else this machine's."""
    return cpus if cpus else encoder_cpus()


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def parse_params(text: str) -> dict[str, str]:
    """``key=value:key:no-key`` as x264/x265 read their parameter lists; a bare key is ``1``, ``no-KEY`` is
    ``KEY=0``."""
    out: dict[str, str] = {}
    for item in str(text).split(":"):
        name, eq, value = item.partition("=")
        name = _key(name)
        if not name:
            continue
        if not eq:
            value = "1"
            for prefix in ("no-", "no"):
                if name.startswith(prefix) and name[len(prefix):] in ("mbtree", "cutree", "b-pyramid", "sliced-threads",
                                                                       "wpp", "8x8dct", "cabac", "scenecut"):
                    name, value = name[len(prefix):], "0"
                    break
        out[name] = value.strip()
    return out


def _int(value: Any, default: int) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _bool(value: Any) -> bool:
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class _Settings:
    """What sets an encoder's memory, as the encoder resolves it."""

    lookahead: int
    bframes: int
    ref: int
    threads: int  # x264: all its threads (each a bitstream buffer); x265: frame threads
    frame_threads: int = 1  # x264 without sliced threads: frames coded at once
    subme: int = 7
    b_adapt: int = 1
    mbtree: bool = True
    vbv: bool = False
    esa: bool = False
    qp: float = 18.0
    keyint: int | None = None
    pyramid: bool = True  # x264's B-pyramid (kept references)


@dataclass
class MemoryPlan:
    """The estimate for one encoder and what was changed to fit the budget: ``options`` are the encoder options
    to open it with (the ones given when nothing changed)."""

    codec: str
    preset: str
    width: int
    height: int
    budget_mb: int
    estimate_mb: float  # with the settings as given
    fitted_mb: float  # with the settings applied
    changes: dict[str, tuple[int, int]] = field(default_factory=dict)  # option -> (was, now)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return self.fitted_mb <= self.budget_mb

    def notice(self) -> str:
        """One line for stderr: what the encoder would hold and what was lowered."""
        head = (f"encoder memory: {self.width}x{self.height} at {self.codec} preset {self.preset} would hold "
                f"~{_size(self.estimate_mb)}")
        changed = ", ".join(f"{k} {a} -> {b}" for k, b_a in self.changes.items() for a, b in [b_a])
        if self.fits:
            return f"{head}; {changed} to stay within {self.budget_mb} MB (encode.max_megabytes)"
        lowered = f"; {changed}: still" if changed else "; nothing vidsr may lower (the pipeline set it):"
        return (f"{head}{lowered} ~{_size(self.fitted_mb)}, over the {self.budget_mb} MB of encode.max_megabytes "
                "(raise it, or pick a faster preset)")

    def as_report(self) -> dict[str, Any]:
        return {"budget_mb": self.budget_mb, "estimate_mb": round(self.estimate_mb),
                "applied_estimate_mb": round(self.fitted_mb),
                "changed": {k: list(v) for k, v in self.changes.items()}}


def _size(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def _pixel_factors(pix_fmt: str) -> tuple[float, float, float]:
    """(bytes a sample, planes of a lookahead frame, planes of a reference frame) relative to 8-bit 4:2:0."""
    depth = 2.0 if any(tag in pix_fmt for tag in ("10", "12", "16")) else 1.0
    if "444" in pix_fmt or pix_fmt.startswith("gbr"):
        return depth, 4.0 / 2.5, 12.0 / 4.5  # 3 full planes (each interpolated 4x as x264 does luma)
    if "422" in pix_fmt or pix_fmt in ("nv16", "nv20le"):
        return depth, 3.0 / 2.5, 5.0 / 4.5
    if pix_fmt.startswith("gray"):
        return depth, 2.0 / 2.5, 4.0 / 4.5
    return depth, 1.0, 1.0


# --- x264 ------------------------------------------------------------------------------------------------------


def _x264_settings(preset: str, crf: int, threads: int, options: dict[str, str], width: int, height: int,
                   pix_fmt: str, sliced: bool, keyint: int | None, cpus: int) -> tuple[_Settings, set[str]] | None:
    """x264's settings as libavcodec hands them over: preset and tune, then the generic options, then
    ``x264opts``, then ``x264-params``; and the knobs the pipeline set itself (left alone)."""
    name = preset.strip().lower()
    if name.isdigit() and int(name) < len(_X264_PRESET_ORDER):
        name = _X264_PRESET_ORDER[int(name)]
    if name not in _X264_PRESETS:
        return None
    p = {**_X264_DEFAULT, **_X264_PRESETS[name]}
    pyramid, vbv, user = True, False, set()
    for tune in str(options.get("tune", "")).replace("+", ",").replace("/", ",").split(","):
        tune = tune.strip().lower()
        if tune == "zerolatency":
            p.update(lookahead=0, bframes=0, mbtree=False)
            sliced = True
        elif tune in ("animation", "touhou"):
            p["ref"] = p["ref"] * 2 if p["ref"] > 1 else 1
            if tune == "animation":
                p["bframes"] += 2
    generic = {"rc-lookahead": "lookahead", "bf": "bframes", "refs": "ref"}
    for opt, knob in generic.items():
        if opt in options and _int(options[opt], -1) >= 0:
            p[knob] = _int(options[opt], p[knob])
            user.add(knob)
    if "mbtree" in options and _int(options["mbtree"], -1) >= 0:
        p["mbtree"] = _bool(options["mbtree"])
    if "b_strategy" in options and _int(options["b_strategy"], -1) >= 0:
        p["b_adapt"] = _int(options["b_strategy"], p["b_adapt"])
    if _int(options.get("g", -1), -1) > 0:
        keyint = _int(options["g"], 250)
    vbv = _int(options.get("bufsize", 0), 0) > 0 or _int(options.get("maxrate", 0), 0) > 0
    qp: float = crf
    if _int(options.get("b", 0), 0) > 0:
        qp = 0.0  # a bit rate: x264 sizes the buffer for qpmin
    x264_threads: int | None = threads or None
    if threads:
        user.add("threads")
    for list_name in ("x264opts", "x264-params"):
        params = parse_params(options.get(list_name, ""))
        for key, knob in (("rc-lookahead", "lookahead"), ("bframes", "bframes"), ("ref", "ref"), ("subme", "subme"),
                          ("b-adapt", "b_adapt")):
            if key in params:
                p[knob] = _int(params[key], p[knob])
                if knob in ("lookahead", "bframes", "ref"):
                    user.add(knob)
        if "threads" in params:
            value = params["threads"].lower()
            x264_threads = None if value == "auto" else _int(value, 0) or None
            user.add("threads")
        if "sliced-threads" in params:
            sliced = _bool(params["sliced-threads"])
        if "mbtree" in params:
            p["mbtree"] = _bool(params["mbtree"])
        if "b-pyramid" in params:
            pyramid = params["b-pyramid"] not in ("0", "none")
        if "keyint" in params and params["keyint"] != "infinite":
            keyint = _int(params["keyint"], 250)
        if "vbv-bufsize" in params or "vbv-maxrate" in params:
            vbv = True
        if "me" in params:
            p["esa"] = params["me"] in ("esa", "tesa")
        if "crf" in params:
            qp = float(params["crf"])
        if "bitrate" in params:
            qp = 0.0
    if str(options.get("profile", "")).lower() == "baseline":
        p["bframes"] = 0
    depth = _pixel_factors(pix_fmt)[0]
    rows = (height + 15) // 16
    if x264_threads is None:  # x264's auto: 1.5 per core (frame threads), 1 per core (sliced), 2 rows a thread
        t = _cpus(cpus) * (2 if sliced else 3) // 2
        t = min(t, max(1, rows // 2))
    else:
        t = x264_threads
    if t > 1 and sliced:
        t = min(t, max(1, rows // 4))
    t = max(1, min(t, _X264_THREAD_MAX))
    bframes = max(0, min(p["bframes"], 16))
    lookahead = max(0, min(p["lookahead"], _X264_LOOKAHEAD_MAX))
    if keyint:
        lookahead = min(lookahead, keyint)
        if keyint == 1:
            p["mbtree"] = False
    settings = _Settings(
        lookahead=lookahead, bframes=bframes, ref=max(1, min(p["ref"], 16)), threads=t,
        frame_threads=1 if (sliced or t == 1) else t, subme=p["subme"], b_adapt=p["b_adapt"],
        mbtree=bool(p["mbtree"]) and lookahead > 0, vbv=vbv, esa=bool(p["esa"]),  # x264 drops it without one
        qp=qp + (12 if depth > 1 else 0), keyint=keyint, pyramid=pyramid,  # QP_BD_OFFSET at 10 bits
    )
    return settings, user


def _x264_delay_b(s: _Settings) -> int:
    """Frames x264 delays for its B-frame decision alone (b-adapt 2 looks further)."""
    return max(s.bframes, 3) * 4 if s.b_adapt == 2 else s.bframes


def _x264_bytes(s: _Settings, width: int, height: int, pix_fmt: str) -> float:
    """x264's resident bytes for settings ``s`` (see the module doc)."""
    px = width * height
    depth, fenc_planes, fdec_planes = _pixel_factors(pix_fmt)
    delay = _x264_delay_b(s)
    if s.mbtree or s.vbv:
        delay = max(delay, s.lookahead)
    sync = s.bframes + 1 if s.frame_threads > 1 else 0
    n_fenc = delay + s.frame_threads - 1 + sync + X264_FENC_EXTRA
    b = s.bframes
    costs = (2 * (b + 2) ** 2 + 16 * (b + 1)) / 256  # per-macroblock lowres costs and vectors, bytes a pixel
    block = px * (X264_FENC_PX * depth * fenc_planes + costs)
    fenc = block + (X264_FENC_MIB * MiB if block >= X264_HUGE_BLOCK else 0.0)
    pyr = s.pyramid and b >= 2
    dpb = max(s.ref, 1 + (2 if pyr else 1 if b else 0), 4 if pyr else 1)
    luma = 4 if s.subme else 1
    planes = (luma + 0.5) / 4.5 + (4.0 / 4.5 if s.esa else 0.0)
    fdec = px * X264_FDEC_PX * depth * planes * fdec_planes
    buffer = max(1e6, px * 4 * 0.95 ** max(s.qp, 0) * 1.4) * X264_THREAD_BUFFER
    return (n_fenc * fenc + (dpb + s.frame_threads) * fdec + s.threads * buffer
            + px * X264_FIXED_PX * depth + X264_FIXED_MIB * MiB)


# --- x265 ------------------------------------------------------------------------------------------------------


def _x265_frame_threads(cpus: int, height: int) -> int:
    """x265's own choice with wavefront on (its default): ThreadPool::getFrameThreadsCount."""
    if cpus >= 32:
        return 6 if height > 2000 else 5
    return 4 if cpus >= 16 else 3 if cpus >= 8 else 2 if cpus >= 4 else 1


def _x265_settings(preset: str, options: dict[str, str], height: int, keyint: int | None,
                   cpus: int) -> tuple[_Settings, set[str]] | None:
    name = preset.strip().lower()
    names = list(_X265_PRESETS)
    if name.isdigit() and int(name) < len(names):
        name = names[int(name)]
    if name not in _X265_PRESETS:
        return None
    lookahead, bframes, ref = _X265_PRESETS[name]
    threads, user = 0, set()
    for tune in str(options.get("tune", "")).split(","):
        if tune.strip().lower() == "zerolatency":
            lookahead, bframes, threads = 0, 0, 1
        elif tune.strip().lower() == "animation":
            bframes = bframes + 2 if bframes + 2 < lookahead else bframes
    if _int(options.get("bf", -1), -1) >= 0:
        bframes = _int(options["bf"], bframes)
        user.add("bframes")
    if _int(options.get("refs", -1), -1) > 0:
        ref = _int(options["refs"], ref)
        user.add("ref")
    if _int(options.get("g", -1), -1) > 0:
        keyint = _int(options["g"], 250)
    params = parse_params(options.get("x265-params", ""))
    for key, knob in (("rc-lookahead", "lookahead"), ("bframes", "bframes"), ("ref", "ref"),
                      ("frame-threads", "threads")):
        if key in params:
            value = _int(params[key], -1)
            if value >= 0:
                user.add(knob)
                lookahead, bframes, ref, threads = (
                    value if knob == "lookahead" else lookahead, value if knob == "bframes" else bframes,
                    value if knob == "ref" else ref, value if knob == "threads" else threads)
    if "keyint" in params:
        keyint = _int(params["keyint"], 250)
    if keyint and keyint > 0:
        lookahead = min(lookahead, keyint)
    if not threads:
        threads = _x265_frame_threads(_cpus(cpus), height)
    return _Settings(lookahead=max(0, lookahead), bframes=max(0, bframes), ref=max(1, ref), threads=threads), user


def _x265_bytes(s: _Settings, width: int, height: int, pix_fmt: str) -> float:
    px = width * height
    depth = _pixel_factors(pix_fmt)[0]
    per_px = (X265_PX["lookahead"] * s.lookahead + X265_PX["bframes"] * s.bframes + X265_PX["ref"] * s.ref
              + X265_PX["threads"] * s.threads + X265_PX["fixed"])
    return px * per_px * depth + X265_FIXED_MIB * MiB


# --- the plan --------------------------------------------------------------------------------------------------

_X264_KEYS = {"lookahead": "rc-lookahead", "threads": "threads", "bframes": "bframes", "ref": "ref"}
_X265_KEYS = {"lookahead": "rc-lookahead", "threads": "frame-threads", "bframes": "bframes", "ref": "ref"}


def _resolve(codec: str, preset: str, crf: int, threads: int, options: dict[str, str], width: int, height: int,
             pix_fmt: str, sliced: bool, keyint: int | None, cpus: int | None) -> Any:
    """(settings, user-set knobs, bytes(settings), lookahead floor(settings), option names) or None."""
    cpus = _cpus(cpus)
    if codec == "libx264":
        got = _x264_settings(preset, crf, threads, options, width, height, pix_fmt, sliced, keyint, cpus)
        if got is None:
            return None
        s, user = got

        def size(t: _Settings) -> float:
            return _x264_bytes(t, width, height, pix_fmt)

        def floor(t: _Settings) -> int:
            # below the B-frame decision's own delay a shorter lookahead frees nothing; mb-tree needs one frame
            if not (t.mbtree or t.vbv):
                return t.lookahead
            return max(_x264_delay_b(t), 1)

        return s, user, size, floor, _X264_KEYS, "x264-params"
    if codec == "libx265":
        got = _x265_settings(preset, options, height, keyint, cpus)
        if got is None:
            return None
        s, user = got

        def size265(t: _Settings) -> float:
            return _x265_bytes(t, width, height, pix_fmt)

        def floor265(t: _Settings) -> int:
            return t.bframes + 1  # x265 refuses a lookahead not longer than the B-frame run

        return s, user, size265, floor265, _X265_KEYS, "x265-params"
    return None


def estimate_megabytes(codec: str, preset: str, width: int, height: int, pix_fmt: str = "yuv420p", *, crf: int = 18,
                       threads: int = 0, options: dict[str, str] | None = None, sliced: bool = True,
                       keyint: int | None = None, cpus: int | None = None) -> float | None:
    """The encoder's estimated resident MiB for these settings; None for an encoder without a model."""
    got = _resolve(codec, preset, crf, threads, dict(options or {}), width, height, pix_fmt, sliced, keyint, cpus)
    return None if got is None else got[2](got[0]) / MiB


def resolved_settings(codec: str, preset: str, width: int, height: int, pix_fmt: str = "yuv420p", *, crf: int = 18,
                      threads: int = 0, options: dict[str, str] | None = None, sliced: bool = True,
                      keyint: int | None = None, cpus: int | None = None) -> dict[str, int] | None:
    """The lookahead, B-frames, references and threads the encoder will run with, as the model resolves them (what
    x264 writes in its SEI as rc_lookahead, bframes, ref, threads); None without a model."""
    got = _resolve(codec, preset, crf, threads, dict(options or {}), width, height, pix_fmt, sliced, keyint, cpus)
    if got is None:
        return None
    s = got[0]
    return {"rc-lookahead": s.lookahead, "bframes": s.bframes, "ref": s.ref, got[4]["threads"]: s.threads}


def _largest(s: _Settings, knob: str, low: int, fits: Any, lookahead_floor: Any, move_lookahead: bool) -> _Settings:
    """``s`` with ``knob`` at the largest value from its own down to ``low`` that fits, else at ``low``; lowering
    the B-frames lowers a lookahead down to their new floor with them (``move_lookahead``)."""
    start = getattr(s, knob)
    candidate = s
    for value in range(start, low - 1, -1):
        candidate = replace(s, **{knob: value})
        if knob == "bframes" and move_lookahead:
            candidate = replace(candidate, lookahead=min(s.lookahead, lookahead_floor(candidate)))
        if fits(candidate):
            return candidate
    return candidate


def plan_encoder_memory(codec: str, preset: str, crf: int, threads: int, options: dict[str, str], width: int,
                        height: int, pix_fmt: str, budget_mb: int | None, *, sliced: bool = True,
                        keyint: int | None = None, cpus: int | None = None) -> MemoryPlan | None:
    """The memory plan for one encoder: None when there is no budget (None or 0) or no model for ``codec``
    (anything but libx264/libx265, or a preset the encoder would refuse anyway); else a plan whose ``options``
    are ``options`` unchanged when the estimate fits, or with the lowered settings merged into the encoder's
    parameter list, never over a key the pipeline set.

    ``options`` are all the encoder's options (preset and crf included) as they would be opened; ``threads`` is
    ``encode.threads`` (0: the encoder picks); ``sliced``: the codec context's thread type is slice threading
    (PyAV's default, so x264 runs one thread a core on slices of one frame); ``keyint`` the GOP length set."""
    if not budget_mb:
        return None
    got = _resolve(codec, preset, crf, threads, options, width, height, pix_fmt, sliced, keyint, cpus)
    if got is None:
        return None
    given, user, size, floor, keys, list_name = got
    budget = budget_mb * MiB

    def fits(t: _Settings) -> bool:
        return size(t) <= budget

    s = given
    if not fits(s):
        # what each costs the picture: a shorter lookahead least, reference frames (motion search) most
        for knob in ("lookahead", "threads", "bframes", "ref"):
            if knob in user:
                continue
            low = 0 if knob == "bframes" else 1 if knob in ("threads", "ref") else min(floor(s), s.lookahead)
            s = _largest(s, knob, low, fits, floor, "lookahead" not in user)
            if fits(s):
                break
    plan = MemoryPlan(codec=codec, preset=str(options.get("preset", preset)), width=width, height=height,
                      budget_mb=budget_mb, estimate_mb=size(given) / MiB, fitted_mb=size(s) / MiB,
                      options=dict(options))
    for knob, key in keys.items():
        was, now = getattr(given, knob), getattr(s, knob)
        if now != was:
            plan.changes[key] = (was, now)
    if plan.changes:
        added = ":".join(f"{key}={now}" for key, (_, now) in plan.changes.items())
        current = plan.options.get(list_name, "")
        plan.options[list_name] = f"{current}:{added}" if current else added
    return plan

