"""Which extra encoder options (``encode.options``) a pipeline may set: an allowlist of keys that cannot make an
encoder read or write a file.

Several encoder options name files (libx264's ``stats``, ``x264-params: dump-yuv=...``, x265's ``csv`` and
``analysis-save``, SVT-AV1's ``stat-file``, two-pass flags whose log goes to the current folder). A pipeline YAML
is a file a user may have been handed, so only keys known to be safe pass; anything else, including keys this
list has never heard of, is refused up front with a one-line error. A denylist would let the next file option
of a new encoder release through.
"""

from __future__ import annotations

from vidsr.errors import ConfigError

__all__ = ["check_encoder_options", "SAFE_OPTIONS", "PARAM_LISTS"]

# AVOptions of FFmpeg's generic encoder context and of the libx264, libx265, libvpx and libsvtav1 wrappers that
# take numbers or keywords only (no path, no pass/stats flags)
SAFE_OPTIONS = frozenset({
    # generic
    "b", "maxrate", "minrate", "bufsize", "g", "bf", "keyint_min", "qmin", "qmax", "qdiff", "qcomp", "refs",
    "sc_threshold", "level", "profile", "tune", "rc_init_occupancy", "forced-idr", "a53cc", "udu_sei",
    # libx264
    "fastfirstpass", "wpredp", "crf_max", "aq-mode", "aq-strength", "psy", "psy-rd", "rc-lookahead", "weightb",
    "weightp", "intra-refresh", "bluray-compat", "b-bias", "b-pyramid", "mixed-refs", "8x8dct", "fast-pskip",
    "aud", "mbtree", "deblock", "cplxblur", "partitions", "direct-pred", "slice-max-size", "nal-hrd",
    "avcintra-class", "me_method", "motion-est", "coder", "b_strategy", "chromaoffset", "noise_reduction",
    "mb_info", "ssim",
    # libvpx (VP8/VP9)
    "deadline", "quality", "cpu-used", "speed", "row-mt", "tile-columns", "tile-rows", "frame-parallel",
    "auto-alt-ref", "arnr-maxframes", "arnr-strength", "arnr-type", "lag-in-frames", "noise-sensitivity",
    "undershoot-pct", "overshoot-pct", "static-thresh", "sharpness", "drop-threshold", "error-resilient",
    "max-intra-rate", "lossless", "tune-content", "corpus-complexity", "enable-tpl", "min-gf-interval",
    # libsvtav1
    "dolbyvision",
})

# sub-keys of the "key=value:key=value" lists, as the libraries' own parsers name them
_X264_KEYS = frozenset({
    "keyint", "min-keyint", "scenecut", "intra-refresh", "bframes", "b-adapt", "b-bias", "b-pyramid", "open-gop",
    "cabac", "ref", "deblock", "interlaced", "tff", "bff", "constrained-intra", "fake-interlaced",
    "frame-packing", "rc-lookahead", "sync-lookahead", "weightb", "weightp", "me", "merange", "mvrange",
    "mvrange-thread", "subme", "psy-rd", "psy", "mixed-refs", "chroma-me", "8x8dct", "trellis", "fast-pskip",
    "dct-decimate", "nr", "deadzone-inter", "deadzone-intra", "cqm", "qp", "crf", "crf-max", "bitrate",
    "vbv-maxrate", "vbv-bufsize", "vbv-init", "qpmin", "qpmax", "qpstep", "ratetol", "ipratio", "pbratio",
    "chroma-qp-offset", "aq-mode", "aq-strength", "mbtree", "qcomp", "cplxblur", "qblur", "zones",
    "partitions", "analyse", "direct", "threads", "lookahead-threads", "sliced-threads", "slices",
    "slice-max-size", "slice-max-mbs", "slice-min-mbs", "level", "bluray-compat", "avcintra-class", "nal-hrd",
    "filler", "aud", "force-cfr", "colorprim", "transfer", "colormatrix", "range", "chromaloc", "sar",
    "overscan", "videoformat", "annexb", "repeat-headers", "stitchable", "psnr", "ssim", "log", "log-level",
    "min-gop", "keyint-min", "no-psy", "deterministic", "cpu-independent", "non-deterministic", "mastering-display",
    "cll", "alternative-transfer",
})
_X265_KEYS = frozenset({
    "log-level", "keyint", "min-keyint", "scenecut", "scenecut-bias", "hist-scenecut", "radl", "bframes",
    "b-adapt", "bframe-bias", "b-pyramid", "b-intra", "ref", "rc-lookahead", "lookahead-slices",
    "lookahead-threads", "open-gop", "weightp", "weightb", "aq-mode", "aq-strength", "aq-motion", "cutree",
    "psy-rd", "psy-rdoq", "rd", "rdoq-level", "rd-refine", "sao", "selective-sao", "sao-non-deblock", "deblock",
    "ctu", "min-cu-size", "max-tu-size", "tu-intra-depth", "tu-inter-depth", "limit-tu", "me", "subme",
    "merange", "max-merge", "temporal-mvp", "strong-intra-smoothing", "constrained-intra", "rect", "amp",
    "early-skip", "rskip", "fast-intra", "tskip", "tskip-fast", "limit-refs", "limit-modes", "pmode", "pme",
    "frame-threads", "pools", "numa-pools", "wpp", "crf", "crf-max", "crf-min", "qp", "bitrate", "vbv-maxrate",
    "vbv-bufsize", "vbv-init", "qpmin", "qpmax", "qpstep", "qcomp", "ipratio", "pbratio", "cbqpoffs",
    "crqpoffs", "nr-intra", "nr-inter", "zones", "strict-cbr", "hrd", "aud", "repeat-headers", "info", "hash",
    "annexb", "sar", "overscan", "videoformat", "range", "colorprim", "transfer", "colormatrix", "chromaloc",
    "master-display", "max-cll", "hdr", "hdr10", "hdr-opt", "hdr10-opt", "uhd-bd", "high-tier", "level-idc",
    "allow-non-conformance", "temporal-layers", "interlace", "field", "frame-dup", "splitrd-skip",
    "dynamic-refine", "refine-intra", "refine-inter", "refine-mv", "opt-qp-pps", "opt-ref-list-length-pps",
    "opt-cu-delta-qp", "idr-recovery-sei", "single-sei", "atc-sei", "pic-struct", "max-ausize-factor",
    "cu-lossless", "lossless", "signhide", "psnr", "ssim", "slices", "fades", "ssim-rd",
    "gop-lookahead", "ctu-info", "min-vbv-fullness", "max-vbv-fullness", "aq-fast-edge", "sbrc", "frame-rc",
    "hevc-aq", "qp-adaptation-range", "intra-refresh", "vbv-end", "vbv-end-fr-adj", "cra-nal", "eob", "eos",
    "rc-grain", "const-vbv", "hme", "hme-search", "hme-range", "scenecut-aware-qp", "masking-strength",
    "tune", "preset", "profile",
})
_SVTAV1_KEYS = frozenset({
    "tune", "film-grain", "film-grain-denoise", "enable-overlays", "scd", "scm", "lp", "pin", "enable-tf",
    "enable-qm", "qm-min", "qm-max", "keyint", "irefresh-type", "lookahead", "enable-cdef", "enable-restoration",
    "fast-decode", "tile-rows", "tile-columns", "aq-mode", "enable-variance-boost", "variance-boost-strength",
    "variance-octile", "sharpness", "enable-dlf", "mbr", "mbr-overshoot-pct", "rc", "tbr", "crf", "qp",
    "hierarchical-levels", "pred-struct", "color-primaries", "transfer-characteristics",
    "matrix-coefficients", "color-range", "chroma-sample-position", "mastering-display", "content-light",
    "enable-hdr", "min-qp", "max-qp", "buf-sz", "buf-initial-sz", "buf-optimal-sz", "overshoot-pct",
    "undershoot-pct", "recode-loop", "enable-dg", "startup-mg-size", "luminance-qp-bias", "tf-strength",
    "max-32-tx-size", "level", "profile",
})
PARAM_LISTS = {"x264-params": _X264_KEYS, "x264opts": _X264_KEYS, "x265-params": _X265_KEYS,
               "svtav1-params": _SVTAV1_KEYS}
# keys the config has its own field for: set there, so the checks on that field (range, preset names) apply
_OWN_FIELD = {"crf": "encode.crf", "preset": "encode.preset", "threads": "encode.threads",
              "pix_fmt": "encode.pix_fmt"}


def _allowed_sub_key(key: str, allowed: frozenset[str]) -> bool:
    """x264 and x265 read ``no-KEY``/``noKEY`` as KEY switched off and ``_`` as ``-``: the same key either way."""
    key = key.strip().lower().replace("_", "-")
    if key in allowed:
        return True
    for prefix in ("no-", "no"):
        if key.startswith(prefix) and key[len(prefix):] in allowed:
            return True
    return False


def check_encoder_options(options: dict[str, str], where: str = "encode.options") -> None:
    """Refuse any option, or any sub-key of ``x264-params``/``x265-params``/``svtav1-params``, outside the
    allowlist, naming the first one found."""
    for key, value in options.items():
        if key in _OWN_FIELD:
            raise ConfigError(f"{where}.{key}: set {_OWN_FIELD[key]} instead (it is checked there)")
        if key in PARAM_LISTS:
            for item in str(value).split(":"):
                sub = item.split("=", 1)[0]
                if sub.strip() and not _allowed_sub_key(sub, PARAM_LISTS[key]):
                    raise ConfigError(f"{where}.{key}: '{sub.strip()}' is not an allowed encoder parameter "
                                      "(it may read or write files, or vidsr does not know it)")
            continue
        if key not in SAFE_OPTIONS:
            raise ConfigError(f"{where}: '{key}' is not an allowed encoder option (it may read or write files, "
                              "or vidsr does not know it)")
