"""Feature extraction and retrieval evaluation (query vs gallery)."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..metrics import compute_distance_matrix, evaluate_cuhk03, evaluate_rank

__all__ = ["resolve_device", "autocast_context", "extract_features", "evaluate", "eval_settings", "SUMMARY_KEYS"]

#: The numbers of an evaluation that a run records (metrics.json, eval.json, log.jsonl).
SUMMARY_KEYS = ("mAP", "rank1", "rank5", "rank10", "mINP")


def eval_settings(cfg) -> Dict[str, Any]:
    """The keyword arguments of :func:`evaluate` that a ``TrainConfig`` sets: a run is evaluated the
    same way after training (``engine``) and later (``--eval-only``)."""
    return dict(height=cfg.height, width=cfg.width, batch_size=cfg.eval_batch_size, metric=cfg.metric,
                flip=cfg.flip_test, amp=cfg.amp, channels_last=cfg.channels_last,
                num_workers=min(cfg.num_workers, 4),
                protocol="cuhk03" if cfg.dataset == "cuhk03" and cfg.cuhk03_classic_split else "market")


def resolve_device(device="auto") -> torch.device:
    """``"auto"``: CUDA when present, else CPU; anything else goes to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    return dev


def autocast_context(device: torch.device, amp: str = "none"):
    """Autocast for ``amp`` in {"none", "bf16", "fp16"} (fp16 only on CUDA)."""
    if amp in (None, "none"):
        return contextlib.nullcontext()
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'none' on CPU")
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    raise ValueError(f"amp must be 'none', 'bf16' or 'fp16', got {amp!r}")


def _run_device(model: nn.Module, device) -> torch.device:
    """``None``/"auto": where the model's parameters are; else that device (the model is moved)."""
    if device in (None, "auto"):
        p = next(model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")
    device = resolve_device(device)
    model.to(device)
    return device


def _progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


#: k-reciprocal re-ranking's settings (Zhong et al. 2017, and torchreid's defaults)
RERANK_DEFAULTS = {"k1": 20, "k2": 6, "lambda_value": 0.3}


def rerank_settings(n_images: int, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> Dict[str, Any]:
    """The re-ranking settings for ``n_images`` (queries + gallery): where fewer than ``k1 + 1`` images
    exist, every image is a neighbour (k1 = n - 1, k2 <= n), as torchreid's slicing does, with a note."""
    out = {"k1": int(k1), "k2": int(k2), "lambda_value": float(lambda_value)}
    if out["k1"] + 1 > n_images or out["k2"] > n_images:
        out["k1"], out["k2"] = min(out["k1"], n_images - 1), min(out["k2"], n_images)
        print(f"note: re-ranking {n_images} images with k1={out['k1']}, k2={out['k2']} (asked k1={k1}, k2={k2}): "
              "fewer images than neighbours, so every image is one", file=sys.stderr)
    return out


def _rerank(q_g: np.ndarray, qf: torch.Tensor, gf: torch.Tensor, metric: str, settings=None) -> np.ndarray:
    try:
        from ..rerank import k_reciprocal_rerank
    except ImportError as err:
        raise RuntimeError(f"re-ranking needs ianet_viz.rerank.k_reciprocal_rerank, which this copy of the "
                           f"package lacks ({err}); update it, or evaluate without --rerank") from err
    q_q = compute_distance_matrix(qf, qf, metric).numpy()
    g_g = compute_distance_matrix(gf, gf, metric).numpy()
    ks = rerank_settings(len(qf) + len(gf), **{**RERANK_DEFAULTS, **(settings or {})})
    return np.asarray(k_reciprocal_rerank(q_g, q_q, g_g, **ks), dtype=np.float32)


@torch.no_grad()
def extract_features(model: nn.Module, loader, device=None, flip: bool = False, amp: str = "none",
                     channels_last: bool = False, progress: bool = True, desc: str = "features"
                     ) -> Tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Embeddings of every image of ``loader`` (eval mode), as ``(feats [N, D] float32 CPU, pids, camids)``.

    ``loader`` yields ``(images, pids, camids, ...)``. With ``flip=True`` the embedding of the
    horizontally flipped image is added (flip test-time augmentation). ``device=None`` runs where
    the model is. The model's train/eval mode is restored afterwards.
    """
    device = _run_device(model, device)
    was_training = model.training
    model.eval()
    feats, pids, camids = [], [], []
    try:
        for batch in _progress(loader, progress, desc=desc, leave=False, unit="batch"):
            imgs = batch[0].to(device, non_blocking=True)
            if channels_last:
                imgs = imgs.contiguous(memory_format=torch.channels_last)
            with autocast_context(device, amp):
                f = model(imgs)
                if flip:
                    f = f + model(torch.flip(imgs, dims=[3]))
            feats.append(f.float().cpu())
            pids.append(torch.as_tensor(batch[1]).cpu())
            camids.append(torch.as_tensor(batch[2]).cpu())
    finally:
        model.train(was_training)
    if not feats:
        raise ValueError("the loader yielded no images")
    return torch.cat(feats), torch.cat(pids).numpy(), torch.cat(camids).numpy()


def evaluate(model: nn.Module, dataset=None, *, query: Optional[Sequence] = None,
             gallery: Optional[Sequence] = None, height: int = 256, width: int = 128,
             batch_size: int = 128, device=None, metric: str = "cosine", flip: bool = False,
             amp: str = "none", channels_last: bool = False, num_workers: int = 0,
             max_rank: int = 50, protocol: str = "market", progress: bool = True,
             distances: bool = False, rerank: bool = False, rerank_settings: Optional[Dict[str, Any]] = None,
             ) -> Dict[str, Any]:
    """Retrieval metrics of ``model`` on ``dataset.query`` vs ``dataset.gallery`` (or explicit lists).

    Returns ``{"mAP", "rank1", "rank5", "rank10", "mINP", "cmc" (list), "num_query",
    "num_gallery", "seconds"}``; ``protocol="cuhk03"`` uses the single-gallery-shot CMC.
    ``device=None`` runs where the model is; ``flip=True`` adds the flipped image's embedding.
    ``distances=True`` also returns ``"distmat"``, the ``[num_query, num_gallery]`` distances, and
    ``"q_pids"``, ``"g_pids"``, ``"q_camids"``, ``"g_camids"`` (for a retrieval grid).
    ``rerank=True`` re-ranks the gallery with k-reciprocal encoding (Zhong et al., CVPR 2017;
    :func:`ianet_viz.rerank.k_reciprocal_rerank`, default k1=20, k2=6, lambda=0.3; ``rerank_settings``
    overrides them), which also needs the query-query and gallery-gallery distances.
    """
    from .loaders import build_test_loader

    if dataset is not None:
        query = dataset.query if query is None else query
        gallery = dataset.gallery if gallery is None else gallery
    if not query or not gallery:
        raise ValueError("evaluate needs a dataset with .query and .gallery, or query= and gallery= lists")
    device = _run_device(model, device)
    t0 = time.perf_counter()
    pin = device.type == "cuda"
    qf, qp, qc = extract_features(
        model, build_test_loader(query, height, width, batch_size, num_workers, pin), device, flip,
        amp, channels_last, progress, desc="query")
    gf, gp, gc = extract_features(
        model, build_test_loader(gallery, height, width, batch_size, num_workers, pin), device, flip,
        amp, channels_last, progress, desc="gallery")
    dist = compute_distance_matrix(qf, gf, metric).numpy()
    if rerank:
        dist = _rerank(dist, qf, gf, metric, rerank_settings)
    if protocol == "market":
        cmc, mAP, mINP = evaluate_rank(dist, qp, gp, qc, gc, max_rank=max_rank, return_minp=True)
    elif protocol == "cuhk03":
        cmc, mAP = evaluate_cuhk03(dist, qp, gp, qc, gc, max_rank=max_rank)
        mINP = evaluate_rank(dist, qp, gp, qc, gc, max_rank=max_rank, return_minp=True)[2]  # full ranking
    else:
        raise ValueError(f"protocol must be 'market' or 'cuhk03', got {protocol!r}")
    cmc = np.asarray(cmc, dtype=np.float64)
    at = lambda k: float(cmc[min(k, len(cmc)) - 1])  # noqa: E731
    out = {
        "mAP": float(mAP), "rank1": at(1), "rank5": at(5), "rank10": at(10), "mINP": float(mINP),
        "cmc": cmc.tolist(), "num_query": int(len(qp)), "num_gallery": int(len(gp)),
        "seconds": time.perf_counter() - t0,
    }
    if distances:
        out.update(distmat=dist, q_pids=np.asarray(qp), g_pids=np.asarray(gp), q_camids=np.asarray(qc),
                   g_camids=np.asarray(gc))
    return out
