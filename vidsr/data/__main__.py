"""``python -m vidsr.data build [--out data/]``: gather the real photographs and write the manifest."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from vidsr.data.build import build


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m vidsr.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="download the packages, copy the photographs, write manifest.json")
    b.add_argument("--out", type=Path, default=Path("data"))
    b.add_argument("--cache", type=Path, default=None, help="where .deb files are kept (default OUT/cache)")
    b.add_argument("--no-palapeli", action="store_true", help="evaluate on scikit-image photographs only")
    args = ap.parse_args()
    manifest = build(args.out, args.cache, with_palapeli=not args.no_palapeli)
    digest = hashlib.sha256((args.out / "manifest.json").read_bytes()).hexdigest()
    print(f"wrote {args.out / 'manifest.json'} {manifest['counts']} sha256={digest}")


if __name__ == "__main__":
    main()
