"""The dataset writer: synthetic pedestrians in the Market-1501 layout (:func:`generate_dataset`,
:func:`ensure_dataset`), byte-identical for a given seed."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .parts import (FORMAT_VERSION, JPEG_QUALITY, MAX_CAMERAS, MAX_IDENTITIES, PART_LABELS, SUBSETS, _check_int,
                    _check_size)
from .levels import Level, confusable_identity
from .people import Identity, sample_identity, sample_pose
from .render import render_person


# ----------------------------------------------------------------------------
# Dataset writer
# ----------------------------------------------------------------------------


#: the manifest's mark of a set this writer made: a format identifier that every written set carries
#: (it predates the module's present name, and changing it would orphan those sets)
GENERATOR_ID = "ianet_viz.data.synthetic"


def _plan_identity(rng: np.random.Generator, k: int, cameras: int) -> List[int]:
    """0-based cameras for the k images of one identity: at least two cameras, and
    every camera used twice when there are enough images."""
    n_cams = int(rng.integers(2, max(2, min(cameras, k // 2)) + 1)) if k >= 4 else 2
    n_cams = min(n_cams, cameras)
    chosen = [int(c) for c in rng.permutation(cameras)[:n_cams]]
    per = 2 if k >= 2 * n_cams else 1
    cams = [c for c in chosen for _ in range(per)]
    cams += [chosen[int(i)] for i in rng.integers(0, n_cams, k - len(cams))]
    return [int(c) for c in rng.permutation(np.array(cams))]


def _split_queries(cams: Sequence[int]) -> List[bool]:
    """Pick at most one query per camera such that every query keeps a gallery
    image from another camera (Market-1501 drops same-camera matches)."""
    is_query = [False] * len(cams)
    for c in sorted(set(cams)):
        idx = next(i for i, cc in enumerate(cams) if cc == c and not is_query[i])
        is_query[idx] = True
        gallery = {cc for i, cc in enumerate(cams) if not is_query[i]}
        queries = {cc for i, cc in enumerate(cams) if is_query[i]}
        if not gallery or any(not (gallery - {q}) for q in queries):
            is_query[idx] = False
    return is_query


def _plan(identities: int, images_per_identity: int, seed: int, cameras: int):
    """The list of images to render: (pid, index, camera0, subset, stem)."""
    n_train = identities - identities // 2
    items = []
    for pid in range(1, identities + 1):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, pid)))
        cams = _plan_identity(rng, images_per_identity, cameras)
        frames = [int(i * 40 + rng.integers(0, 40)) for i in range(images_per_identity)]
        seqs = [int(s) for s in rng.integers(1, 7, images_per_identity)]
        if pid <= n_train:
            subsets = ["bounding_box_train"] * images_per_identity
        else:
            q = _split_queries(cams)
            subsets = ["query" if f else "bounding_box_test" for f in q]
        for i in range(images_per_identity):
            stem = f"{pid:04d}_c{cams[i] + 1}s{seqs[i]}_{frames[i]:06d}_00"
            items.append((pid, i, cams[i], subsets[i], stem))
    return items, n_train


def _identity_for(seed: int, pid: int, n_train: int = 0, level: Optional[Level] = None) -> Identity:
    if level is not None:
        return confusable_identity(seed, pid, n_train, level.group)
    return sample_identity(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, pid))))


def render_sample(identity: Identity, pid: int, index: int, camera: int, *, seed: int = 0, height: int = 256,
                  width: int = 128, level: Optional[Level] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The (image RGB, mask) that :func:`generate_dataset` writes for image ``index``
    of ``pid`` seen by ``camera`` (0-based): pose and nuisances come from
    ``default_rng(SeedSequence(seed, spawn_key=(2, pid, index)))``; a ``level`` draws the box
    from its misalignment dial (``Level("everyday")`` draws what no level draws)."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2, int(pid), int(index))))
    pose = sample_pose(rng)
    framing = None if level is None else level.framing(rng)
    return render_person(identity, pose, height=height, width=width, camera=camera, rng=rng, scene_seed=seed,
                         framing=framing)


def _render_item(args) -> None:
    out, seed, height, width, pid, index, camera, subset, stem, ident_dict, level = args
    img, mask = render_sample(Identity.from_dict(ident_dict), pid, index, camera, seed=seed, height=height,
                              width=width, level=None if level is None else Level(**level))
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    ok2, png = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not (ok and ok2):
        raise RuntimeError(f"OpenCV failed to encode {stem}")
    root = Path(out)
    (root / subset / f"{stem}.jpg").write_bytes(jpg.tobytes())
    (root / "masks" / subset / f"{stem}.png").write_bytes(png.tobytes())


def _params(identities, images_per_identity, seed, height, width, cameras, level=None) -> dict:
    extra = {} if level is None else {"level": level.to_dict()}  # default sets keep their old manifest
    return {**extra,
        "generator": GENERATOR_ID,
        "format_version": FORMAT_VERSION,
        "identities": identities,
        "images_per_identity": images_per_identity,
        "seed": seed,
        "height": height,
        "width": width,
        "cameras": cameras,
        "jpeg_quality": JPEG_QUALITY,
    }


def _validate(output, identities, images_per_identity, seed, height, width, cameras) -> Path:
    identities = _check_int("identities", identities, 2, MAX_IDENTITIES)
    _check_int("images_per_identity", images_per_identity, 2)
    _check_int("seed", seed, 0)
    _check_size(height, width)
    _check_int("cameras", cameras, 2, MAX_CAMERAS)
    if output is None or str(output) == "":
        raise ValueError("output must be a directory path")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {str(out)!r} exists and is a file, not a directory; choose a directory path")
    return out


def _check_level(level) -> None:
    if level is not None and not isinstance(level, Level):
        raise TypeError(f"level must be a ianet_viz.synthetic.levels.Level or None, got {type(level).__name__}")


def _read_manifest(out: Path) -> Optional[dict]:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


_README = """Synthetic pedestrians (ianet_viz.synthetic)
===========================================

Generated by:
    python -m ianet_viz.synthetic --output DIR --identities {identities} \\
        --images-per-identity {images_per_identity} --seed {seed} --height {height} --width {width} \\
        --cameras {cameras}

Layout (Market-1501 naming, readable by ianet_viz.reid.Market1501(DIR)):
    bounding_box_train/  {n_train} train identities (pids 0001..{last_train:04d})
    query/               test identities: one image per camera (when a cross-camera gallery match remains)
    bounding_box_test/   test identities: the other images
    masks/<subfolder>/<stem>.png   per-pixel part mask of <subfolder>/<stem>.jpg (uint8, lossless PNG)
    attributes.json      appearance attributes of every pid ("identities"), its split, and the label ids
    manifest.json        generation parameters (written last; ensure_dataset() checks it)

File names: PPPP_cCsS_FFFFFF_00.jpg = pid (4 digits, from 0001), camera C (1..{cameras}), sequence S,
frame FFFFFF. Images are {height}x{width} RGB JPEG (quality {jpeg_quality}).

Mask label ids (hair and hat count as head, hands as arms, pelvis and skirt as legs, strap as bag):
{labels}

Every query image has a gallery image of the same pid from another camera.
Regenerating with the same parameters gives byte-identical files.
"""


def generate_dataset(
    output,
    identities: int,
    images_per_identity: int,
    seed: int = 0,
    height: int = 256,
    width: int = 128,
    cameras: int = 6,
    *,
    workers: int = 1,
    progress: bool = False,
    level: Optional[Level] = None,
) -> Path:
    """Write a synthetic dataset in the Market-1501 layout to ``output``; return its path.

    ``output`` must be missing, empty, or a dataset this function wrote before
    (its generated folders are replaced).  ``workers > 1`` renders in processes;
    the files are the same either way. ``level`` (:class:`ianet_viz.synthetic.levels.Level`) turns the
    misalignment and confusability dials; None is the default generator.
    """
    out = _validate(output, identities, images_per_identity, seed, height, width, cameras)
    _check_int("workers", workers, 1)
    if out.exists() and any(out.iterdir()):
        if (_read_manifest(out) or {}).get("generator") != GENERATOR_ID:
            raise ValueError(f"output directory {str(out)!r} is not empty and holds no synthetic dataset "
                             "(manifest.json); choose an empty or new directory")
        for name in ("manifest.json", "manifest.json.tmp", *SUBSETS, "masks", "attributes.json", "README.txt"):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    _check_level(level)
    params = _params(identities, images_per_identity, seed, height, width, cameras, level)
    # mark the folder as ours but incomplete: a killed run is regenerated by ensure_dataset
    (out / "manifest.json").write_text(json.dumps(dict(params, status="incomplete"), indent=1, sort_keys=True))
    for sub in SUBSETS:
        (out / sub).mkdir(parents=True, exist_ok=True)
        (out / "masks" / sub).mkdir(parents=True, exist_ok=True)

    items, n_train = _plan(identities, images_per_identity, seed, cameras)
    idents = {pid: _identity_for(seed, pid, n_train, level) for pid in range(1, identities + 1)}
    lv = None if level is None else level.to_dict()
    tasks = [(str(out), seed, height, width, pid, i, cam, sub, stem, idents[pid].to_dict(), lv)
             for pid, i, cam, sub, stem in items]
    if workers == 1:
        for k, t in enumerate(tasks):
            _render_item(t)
            if progress and (k + 1) % 500 == 0:
                print(f"  {k + 1}/{len(tasks)} images", file=sys.stderr)
    else:
        import multiprocessing as mp

        # fork where available (works from notebooks and stdin scripts; the workers only use numpy/OpenCV)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
            for _ in pool.imap_unordered(_render_item, tasks, chunksize=16):
                pass

    counts = {sub: sum(1 for it in items if it[3] == sub) for sub in SUBSETS}
    attrs = {
        "part_labels": {str(k): v for k, v in PART_LABELS.items()},
        "identities": {
            f"{pid:04d}": {"split": "train" if pid <= n_train else "test", **idents[pid].to_dict()}
            for pid in range(1, identities + 1)
        },
    }
    (out / "attributes.json").write_text(json.dumps(attrs, indent=1, sort_keys=True) + "\n")
    labels = "\n".join(f"    {k} {v}" for k, v in PART_LABELS.items())
    (out / "README.txt").write_text(_README.format(n_train=n_train, last_train=n_train, labels=labels, **{
        k: v for k, v in params.items() if k not in ("generator", "format_version")}))
    manifest = dict(params, num_images=counts, status="complete")
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out / "manifest.json")
    return out


def _is_complete(out: Path, want: dict) -> bool:
    """True when ``out`` holds a finished dataset with parameters ``want`` and all its files."""
    m = _read_manifest(out)
    if m is None or m.get("status") != "complete" or any(m.get(k) != v for k, v in want.items()):
        return False
    if m.get("level") != want.get("level"):  # a set of another level (or none) is not this one
        return False
    counts = m.get("num_images") or {}
    try:
        return all(sum(1 for _ in (out / sub).glob("*.jpg")) == counts.get(sub) and
                   sum(1 for _ in (out / "masks" / sub).glob("*.png")) == counts.get(sub) for sub in SUBSETS)
    except OSError:
        return False


def ensure_dataset(
    output,
    identities: int = 40,
    images_per_identity: int = 8,
    seed: int = 0,
    height: int = 256,
    width: int = 128,
    cameras: int = 6,
    *,
    workers: int = 1,
    level: Optional[Level] = None,
) -> Path:
    """Return ``output`` if it already holds a complete dataset with these
    parameters (per its manifest.json and file counts); otherwise generate it."""
    out = _validate(output, identities, images_per_identity, seed, height, width, cameras)
    _check_level(level)
    if _is_complete(out, _params(identities, images_per_identity, seed, height, width, cameras, level)):
        return out
    return generate_dataset(out, identities, images_per_identity, seed, height, width, cameras, workers=workers,
                            level=level)
