"""Command line: ``python -m ianet_viz.synthetic --output DIR --identities N --images-per-identity K``."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from .parts import MAX_CAMERAS, PART_LABELS
from .writer import _is_complete, _params, _read_manifest, _validate, generate_dataset


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m ianet_viz.synthetic",
        description="Generate synthetic pedestrians with part masks in the Market-1501 layout.",
        epilog="Mask label ids: " + ", ".join(f"{k}={v}" for k, v in PART_LABELS.items()),
    )
    ap.add_argument("--output", required=True, help="output directory (missing, empty, or a previous synthetic set)")
    ap.add_argument("--identities", type=int, required=True, help="number of identities (half train, half test)")
    ap.add_argument("--images-per-identity", type=int, required=True, help="images per identity (>= 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--cameras", type=int, default=6, help=f"number of cameras, 2..{MAX_CAMERAS}")
    ap.add_argument("--workers", type=int, default=1, help="processes (output is identical for any value)")
    ap.add_argument("--if-missing", action="store_true",
                    help="do nothing when OUTPUT already holds a dataset with these parameters")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    params = (args.identities, args.images_per_identity, args.seed, args.height, args.width, args.cameras)
    try:
        t0 = time.perf_counter()
        if args.if_missing:
            out = _validate(args.output, *params)
            if _is_complete(out, _params(*params)):
                print(f"{out} already holds this dataset; nothing to do")
                return 0
            out = generate_dataset(out, *params, workers=args.workers, progress=True)
        else:
            out = generate_dataset(args.output, *params, workers=args.workers, progress=True)
        dt = time.perf_counter() - t0
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    m = _read_manifest(out) or {}
    n = sum(m.get("num_images", {}).values())
    print(f"wrote {n} images ({m.get('num_images')}) to {out} in {dt:.1f} s ({n / max(dt, 1e-9):.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
