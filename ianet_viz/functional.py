"""The equations of IANet (Hou et al., CVPR 2019) as pure tensor functions.

One function per equation, named for what it computes; each docstring cites the equation.
Shapes: a feature map ``f`` is ``[B, C, H, W]``; it is flattened to ``[B, C, M]`` with
``M = H * W`` and position index ``m = y * W + x``. Relation maps are ``[B, M, M]`` with rows
indexed by the query position ``i`` and columns by the gathered position ``j``; every row sums to 1.

Numerics (why the code looks the way it does):

* Logits and softmaxes always run in float32 or wider, also under bf16/fp16 autocast: an
  ``M``-way softmax in bf16 loses the small probabilities that make up a receptive field.
* Products of probabilities (eq. 2 and eq. 5) are sums of log-probabilities, so a product of
  four maps whose entries are ~1e-4 each does not underflow.
* ``fusion="renorm"`` (default) divides the product by its row sum; ``fusion="softmax"`` is the
  paper's literal text, a softmax *of* the product, which is nearly uniform because every product
  is far below 1 (see notebook 01). Renormalising the product equals a softmax of the summed
  logits, and that is how it is computed.

The fast paths (shifted sums for K > 1, the fused CIA kernel) live in :mod:`ianet_viz.kernels`;
:func:`sia` and :func:`cia` choose them when nobody reads the maps.

The choice of ``scale`` (the paper has none; ``scale=1.0`` is its literal formula, applied to every K):
with ``scale=None`` (default) SIA uses ``1 / (sqrt(C) * K^2)`` for context size K, that is the
authors' ``1/sqrt(C)`` (their released code, blue-blue272/ImgReID-IAnet, has K=1 only) applied to the
*mean* of the K^2 patch dot products, and CIA uses ``1/sqrt(M)``, as a channel vector has M entries (eq. 7 and that code have no scale). Why: a K x K logit sums K^2 dot products,
so with a single ``1/sqrt(C)`` for every K the weight a position puts on itself grows with K until
S^A_3 is a dot on the query and SIA is the identity; dividing by K^2 keeps every K at the temperature of
K=1 (``benchmarks/scale_entropy.py`` measures both on the bundled real crops; the figures are in
``benchmarks/RESULTS.md``, "scale_entropy"). ``scale=1.0`` makes every map one-hot.
"""
from __future__ import annotations

import functools
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .basics import (_check_choice, _check_feature_map, _check_k, _check_sigma, _compute_dtype,  # noqa: F401
                     default_scale, patch_offsets, relation_softmax, without_subnormals)
from .kernels import fused_channel_attention, patch_logits_multi, sia_by_query_rows, summed_patch_logits
from .options import FUSIONS, MULTI_FUSIONS, RELATIONS, STAGE3_SIGMA, IAOptions, ia_options  # noqa: F401
#: default temperature of the cosine relation (logits = tau * mean patch cosine, in [-tau, tau])
COSINE_TEMPERATURE = 10.0


def context_weights(ks: Sequence[int], scale, channels: int, relation: str = "dot"):
    """``(base, {K: w_K})`` such that the eq. 1 logits of K are ``base * w_K * patch_sum_K``.

    ``relation="dot"``, ``scale=None``: ``base = 1/sqrt(C)`` and ``w_K = 1/K^2`` (the mean patch dot
    product, so every K has the temperature of K=1). A number: ``base = scale`` and ``w_K = 1``
    (``1.0`` is literal). ``relation="cosine"``: ``base`` is the temperature (``scale=None``:
    :data:`COSINE_TEMPERATURE`; a 0-dim tensor for a learnable one) and ``w_K = 1/K^2`` always, so a
    logit is the temperature times the mean patch cosine, bounded by it whatever the feature norms.
    """
    if relation == "cosine":
        return (COSINE_TEMPERATURE if scale is None else scale), {k: 1.0 / (k * k) for k in ks}
    if scale is None:
        return default_scale(channels), {k: 1.0 / (k * k) for k in ks}
    return float(scale), {k: 1.0 for k in ks}


def relation_features(f: torch.Tensor, relation: str = "dot") -> torch.Tensor:
    """The vectors whose dot products eq. 1 takes: ``f`` itself ("dot", the paper) or each position's
    feature divided by its norm ("cosine"), so that the logits do not sharpen as feature norms grow."""
    if relation == "cosine":
        return F.normalize(f, dim=1, eps=1e-6)
    return f


# --------------------------------------------------------------------------------------------
# eq. 1: appearance relation for context size K
# --------------------------------------------------------------------------------------------
def dot_product_matrix(f: torch.Tensor, scale=1.0) -> torch.Tensor:
    """``G[b, i, j] = scale * <f_i, f_j>``, the K=1 dot products between all positions, ``[B, M, M]``."""
    x = f.flatten(2)
    if isinstance(scale, torch.Tensor):  # a learnable temperature: keep it in the autograd graph
        return torch.bmm(x.transpose(1, 2), x) * scale.to(x.dtype)
    if scale == 1.0:
        return torch.bmm(x.transpose(1, 2), x)
    # the scale rides on the matrix product (alpha) instead of costing a pass over M^2 entries
    return torch.baddbmm(x.new_zeros(1, 1, 1), x.transpose(1, 2), x, beta=0.0, alpha=scale)


def patch_logits(g: torch.Tensor, h: int, w: int, k: int) -> torch.Tensor:
    """Eq. 1 logits for one context size K from the K=1 dot products ``g`` (:func:`ianet_viz.kernels.patch_logits_multi`)."""
    return patch_logits_multi(g, h, w, (_check_k(k),))[k]


def appearance_logits(f: torch.Tensor, ks: Sequence[int], scale=None, relation: str = "dot") -> Dict[int, torch.Tensor]:
    """Scaled eq. 1 logits ``{K: [B, M, M]}`` for every K in ``ks``, sharing one dot-product matrix."""
    _check_feature_map(f)
    _check_choice(relation, RELATIONS, "relation")
    ks = [_check_k(k) for k in ks]
    b, c, h, w = f.shape
    base, weights = context_weights(ks, scale, c, relation)
    with torch.autocast(device_type=f.device.type, enabled=False):
        x = relation_features(f.to(_compute_dtype(f)), relation)
        return patch_logits_multi(dot_product_matrix(x, base), h, w, ks, weights)


def appearance_relation(f: torch.Tensor, k: int = 1, scale=None, relation: str = "dot") -> torch.Tensor:
    """Eq. 1: ``S^A_K[i, j] = softmax_j(scale * sum_{d in KxK} <f_{i+d}, f_{j+d}>)``, ``[B, M, M]``.

    Patch offsets per axis are ``range(-((K-1)//2), K//2 + 1)``; positions outside the map count as
    zero vectors (zero padding). ``scale=None`` means ``1/(sqrt(C) K^2)`` (see the module
    docstring for the measurement); ``scale=1.0`` is the paper's literal formula.
    ``relation="cosine"`` (not in the paper) uses unit-norm features and a temperature ``scale``.
    """
    return relation_softmax(appearance_logits(f, (k,), scale, relation)[k])


# --------------------------------------------------------------------------------------------
# eq. 2 and eq. 5: fusion of relation maps
# --------------------------------------------------------------------------------------------
def fuse_log_relations(log_maps: List[torch.Tensor], multi: str = "prod", fusion: str = "renorm") -> torch.Tensor:
    """Fuse row-stochastic maps given as log-probabilities; returns the fused log-probabilities.

    ``multi`` combines the maps element-wise (product, sum or max, Tab. 4b; "mean" is the
    geometric mean, not in the paper: the product's ranking at one factor's temperature); ``fusion`` turns the
    combination back into a distribution: "renorm" divides by the row sum, "softmax" applies a
    softmax to the combined *values* (the paper's literal text).
    """
    _check_choice(multi, MULTI_FUSIONS, "multi-context fusion")
    _check_choice(fusion, FUSIONS, "fusion")
    if len(log_maps) == 1:
        return log_maps[0]
    if multi == "prod":  # product of probabilities = sum of log-probabilities
        combined = torch.stack(log_maps).sum(0) if len(log_maps) > 2 else log_maps[0] + log_maps[1]
    elif multi == "mean":  # geometric mean = mean of log-probabilities
        combined = torch.stack(log_maps).mean(0)
    elif multi == "sum":
        combined = torch.logsumexp(torch.stack(log_maps), dim=0)
    else:
        combined = torch.stack(log_maps).amax(0)
    if fusion == "renorm":
        return torch.log_softmax(combined, dim=-1)
    return torch.log_softmax(combined.exp(), dim=-1)


def multi_context_fusion(maps: List[torch.Tensor], multi: str = "prod", fusion: str = "renorm") -> torch.Tensor:
    """Eq. 2: ``S^A = fuse(S^A_1, S^A_2, S^A_3)``; product (paper's best), sum or max (Tab. 4b),
    or "mean", the geometric mean (ours: the product's ranking without its sharpening).

    Takes and returns probabilities; the product is formed in log space so it cannot underflow.
    """
    return without_subnormals(
        fuse_log_relations([m.clamp_min(torch.finfo(m.dtype).tiny).log() for m in maps], multi, fusion).exp())


# --------------------------------------------------------------------------------------------
# eq. 3-4: location relation (a Gaussian prior on the displacement)
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _log_location_cached(h: int, w: int, s1: float, s2: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    dx2 = (xs[:, None] - xs[None, :]) ** 2
    dy2 = (ys[:, None] - ys[None, :]) ** 2
    logits = -(dx2 / (2 * s1 * s1) + dy2 / (2 * s2 * s2))
    return torch.log_softmax(logits, dim=-1).to(device=device, dtype=dtype)


def _map_size(h, w) -> Tuple[int, int]:
    """``(h, w)`` checked as a feature map's size. While ``torch.jit`` traces a model (an export), sizes
    arrive as tensors: they are read as ints, so the location prior enters the trace as a constant,
    which is right, since an exported model's input size is fixed (its batch size is not)."""
    if torch.jit.is_tracing():
        h, w = int(h), int(w)
    if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
        raise ValueError(f"h and w must be positive ints (the feature map size), got h={h!r}, w={w!r}")
    return h, w


def log_location_relation(h: int, w: int, sigma=(5.0, 10.0), device=None, dtype=None) -> torch.Tensor:
    """``log S^L`` (eq. 3-4) computed directly in log space, so far-away cells give finite logs."""
    h, w = _map_size(h, w)
    s1, s2 = _check_sigma(sigma)
    device = torch.device("cpu" if device is None else device)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return _log_location_cached(h, w, s1, s2, str(device), dtype)


@functools.lru_cache(maxsize=64)
def _location_cached(h: int, w: int, s1: float, s2: float, device: str, dtype: torch.dtype) -> torch.Tensor:
    return without_subnormals(_log_location_cached(h, w, s1, s2, device, dtype).exp())


def location_relation(h: int, w: int, sigma=(5.0, 10.0), device=None, dtype=None) -> torch.Tensor:
    """Eq. 3-4: ``S^L[i, j] ∝ exp(-dx^2 / (2 sigma1^2) - dy^2 / (2 sigma2^2))``, rows sum to 1.

    ``sigma1`` acts along the width (x), ``sigma2`` along the height (y), in feature-map cells;
    the paper uses (5, 10) at stage 3 and (10, 20) at stage 2. Returns ``[M, M]``, cached per
    (H, W, sigma, device, dtype): treat it as read-only.
    """
    h, w = _map_size(h, w)
    s1, s2 = _check_sigma(sigma)
    device = torch.device("cpu" if device is None else device)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return _location_cached(h, w, s1, s2, str(device), dtype)


# --------------------------------------------------------------------------------------------
# eq. 5-6: semantic relation and spatial aggregation; the whole SIA operator
# --------------------------------------------------------------------------------------------
def semantic_relation(s_a: torch.Tensor, s_l: torch.Tensor, fusion: str = "renorm") -> torch.Tensor:
    """Eq. 5: ``S = fuse(S^A, S^L)``, the element-wise product of appearance and location maps,
    renormalised per row (``fusion="renorm"``) or passed through a softmax (``"softmax"``)."""
    tiny = torch.finfo(s_a.dtype).tiny
    log_s = fuse_log_relations([s_a.clamp_min(tiny).log(), s_l.clamp_min(tiny).log().expand_as(s_a)], "prod", fusion)
    return without_subnormals(log_s.exp())


def aggregate(f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``E_S = F S^T``: position i gathers ``sum_j S[i, j] f_j``. Returns ``[B, C, H, W]``."""
    b, c, h, w = f.shape
    x = f.flatten(2).to(s.dtype)
    return torch.bmm(x, s.transpose(1, 2)).reshape(b, c, h, w)


#: the slab path's thresholds: positions per map (stage 2 at 256 x 128 has 512) and bytes of B x M x M
#: float32 logits (4 MB, above a core's L2)
SLAB_MIN_POSITIONS, SLAB_MIN_BYTES = 256, 4 * 2**20


def _slab_path(f: torch.Tensor) -> bool:
    """Take :func:`~ianet_viz.kernels.sia_by_query_rows`: on the CPU (a GPU wants few large kernels),
    without autograd (its backward is slower), outside ``torch.compile`` (its loop would unroll), and only
    for maps that outgrow the cache (a small map fits whole; the per-slab Python steps would then cost
    more than the passes they save)."""
    b, _, h, w = f.shape
    m = h * w
    return (f.device.type == "cpu" and not (torch.is_grad_enabled() and f.requires_grad)
            and not torch.compiler.is_compiling()
            and m >= SLAB_MIN_POSITIONS and b * m * m * 4 >= SLAB_MIN_BYTES)


def sia(f: torch.Tensor, options: Optional[IAOptions] = None, *, need_maps: bool = True,
        learned_scale: Optional[torch.Tensor] = None, **values) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Spatial interaction and aggregation, eq. 1-6: returns ``(E_S [B, C, H, W], maps)``.

    ``options`` (an :class:`~ianet_viz.options.IAOptions`; single ones by name: ``sia(f, ks=(1,))``)
    choose K, the fusions, the relations and sigma (``None``: the paper's stage-3 pair).
    ``maps``: ``"S_A_1", ...`` (eq. 1), ``"S_A"`` (eq. 2), ``"S_L"`` (eq. 3-4) and ``"S"`` (eq. 5), all
    ``[B, M, M]``. ``need_maps=False`` skips the maps: the product or geometric mean then needs one
    softmax of the summed logits (the row normalisers cancel), computed by :mod:`ianet_viz.kernels`.
    ``learned_scale``: a learnable temperature (a 0-dim tensor) in place of ``options.sia_scale``.
    """
    o, sigma = _sia_options(f, options, values)
    scale = o.sia_scale if learned_scale is None else learned_scale
    b, c, h, w = f.shape
    x = f.to(_compute_dtype(f))
    log_prior = functools.partial(log_location_relation, h, w, sigma, f.device, x.dtype)
    with torch.autocast(device_type=f.device.type, enabled=False):
        if not need_maps and o.use_appearance and o.fusion == "renorm" and o.multi in ("prod", "mean"):
            log_l = log_prior() if o.use_location else None
            return _fused_sia(x, o.ks, scale, o.sia_relation, o.multi, log_l).to(f.dtype), {}  # eq. 1-6, kernels
        logits, logits_a = (context_logits(x, o.ks, scale, o.sia_relation, o.multi, o.fusion)  # eq. 1-2
                            if o.use_appearance else ({}, None))
        log_l = log_prior() if o.use_location else None  # eq. 3-4
        s = semantic_from_logits(logits_a, log_l, o.fusion, b)  # eq. 5
        maps = _sia_maps(logits, logits_a, s, h, w, sigma, o) if need_maps else {}
        return aggregate(x, s).to(f.dtype), maps  # eq. 6


def _sia_options(f: torch.Tensor, options: Optional[IAOptions], values) -> Tuple[IAOptions, Tuple[float, float]]:
    """The options of one :func:`sia` call, checked, and its sigma pair."""
    _check_feature_map(f)
    o = ia_options(options, **values)
    if isinstance(o.sigma, dict):
        raise ValueError(f"sia() takes one sigma pair, got {o.sigma!r}; a {{stage: pair}} dict is for build_ianet")
    return o, (STAGE3_SIGMA if o.sigma is None else o.sigma)


def _sia_maps(logits, logits_a, s, h, w, sigma, o: IAOptions) -> Dict[str, torch.Tensor]:
    """The maps a reader asked for: each S^A_K (eq. 1), S^A (eq. 2), S^L (eq. 3-4) and S (eq. 5)."""
    maps = {f"S_A_{k}": relation_softmax(v) for k, v in logits.items()}
    if logits:
        maps["S_A"] = relation_softmax(logits_a) if len(logits) > 1 else maps[f"S_A_{o.ks[0]}"]
    if o.use_location:
        maps["S_L"] = location_relation(h, w, sigma, s.device, s.dtype)
    maps["S"] = s
    return maps


def context_logits(f: torch.Tensor, ks: Sequence[int], scale=None, relation: str = "dot", multi: str = "prod",
                   fusion: str = "renorm") -> Tuple[Dict[int, torch.Tensor], torch.Tensor]:
    """Eq. 1 and 2 as logits: ``({K: logits of S^A_K}, logits of S^A)``, every map being the softmax
    of its logits. A renormalised product of softmaxes is the softmax of the summed logits (the row
    normalisers cancel), and the geometric mean the softmax of their mean; the other fusions (Tab. 4b)
    combine log-probabilities (:func:`fuse_log_relations`)."""
    logits = appearance_logits(f, ks, scale, relation)
    if fusion == "renorm" and multi in ("prod", "mean"):
        values = list(logits.values())
        total = values[0] if len(values) == 1 else values[0] + values[1]
        for v in values[2:]:
            total.add_(v)  # a fresh tensor: in place is safe
        return logits, total / len(values) if multi == "mean" and len(values) > 1 else total
    return logits, fuse_log_relations([torch.log_softmax(v, dim=-1) for v in logits.values()], multi, fusion)


def semantic_from_logits(logits_a: Optional[torch.Tensor], log_l: Optional[torch.Tensor], fusion: str = "renorm",
                         batch: int = 1) -> torch.Tensor:
    """Eq. 5 from the logits of S^A (:func:`context_logits`) and ``log S^L``: the renormalised product is
    the softmax of their sum; the paper's literal softmax of the product (``fusion="softmax"``) takes
    the product of the probabilities. Either factor may be absent (Tab. 4c's one-relation rows)."""
    if logits_a is None:
        return without_subnormals(log_l.exp()).expand(batch, -1, -1).contiguous()
    if log_l is None:
        return relation_softmax(logits_a)
    if fusion == "renorm":
        return relation_softmax(logits_a + log_l)
    log_a = torch.log_softmax(logits_a, dim=-1)
    return without_subnormals(fuse_log_relations([log_a, log_l.expand_as(log_a)], "prod", fusion).exp())


def _fused_sia(x: torch.Tensor, ks, scale, relation: str, multi: str, log_l: Optional[torch.Tensor]) -> torch.Tensor:
    """Eq. 1-6 when nobody reads the maps (product or geometric-mean fusion, renormalised): one softmax of
    the summed logits, computed by :mod:`ianet_viz.kernels` (by slabs of query rows on the CPU without
    autograd, else on the whole tensor)."""
    b, c, h, w = x.shape
    base, weights = context_weights(ks, scale, c, relation)
    mean_w = 1.0 / len(ks) if multi == "mean" else 1.0  # geometric mean: the summed logits / n
    weights = {k: v * mean_w for k, v in weights.items()}
    g = dot_product_matrix(relation_features(x, relation), base)
    if _slab_path(x):
        return sia_by_query_rows(x.flatten(2), g, h, w, ks, weights, log_l).reshape(b, c, h, w)
    total = g if set(ks) == {1} else summed_patch_logits(g, h, w, ks, weights)
    if log_l is not None:
        total = total.add_(log_l)  # total is a fresh tensor (g included): in place is safe
    return aggregate(x, relation_softmax(total))


# --------------------------------------------------------------------------------------------
# eq. 7-8: channel interaction and aggregation
# --------------------------------------------------------------------------------------------
def channel_relation(f: torch.Tensor, scale: Optional[float] = None) -> torch.Tensor:
    """Eq. 7: ``C[m, n] = softmax_n(scale * <f_m, f_n>)`` between channel maps ``f_m`` in R^M.

    No DANet-style ``max(energy) - energy``: that would make the most similar channels the least
    attended. ``scale=None`` means ``1/sqrt(M)``. Returns ``[B, C, C]``.
    """
    _check_feature_map(f)
    b, c, h, w = f.shape
    scale = default_scale(h * w) if scale is None else float(scale)
    with torch.autocast(device_type=f.device.type, enabled=False):
        x = f.flatten(2).to(_compute_dtype(f))
        if scale == 1.0:
            return relation_softmax(torch.bmm(x, x.transpose(1, 2)))
        # the scale rides on the matrix product (alpha): no extra pass over (and, on the CPU, no
        # extra allocation of) the B x C x C logits, 4 MB per image at stage 3 of ResNet-50
        energy = torch.baddbmm(x.new_zeros(1, 1, 1), x, x.transpose(1, 2), beta=0.0, alpha=scale)
        return relation_softmax(energy)


def channel_aggregate(f: torch.Tensor, c_map: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``E_C = C F``: channel m gathers ``sum_n C[m, n] f_n``. Returns ``[B, C, H, W]``."""
    b, c, h, w = f.shape
    with torch.autocast(device_type=f.device.type, enabled=False):
        return torch.bmm(c_map, f.flatten(2).to(c_map.dtype)).reshape(b, c, h, w).to(f.dtype)


def cia(f: torch.Tensor, scale: Optional[float] = None,
        need_map: bool = True) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Channel interaction and aggregation, eq. 7-8: returns ``(E_C [B, C, H, W], C [B, C, C])``.

    ``need_map=False`` (training, plain inference) returns ``(E_C, None)``; when there are more
    channels than positions (``C > M``: stage 3 of ResNet-50 at 256x128 has 1024 > 128) the
    ``C x C`` map is bigger than the features and the fused kernel is faster (``benchmarks/RESULTS.md``,
    "Where the full IANet's CPU excess goes"); at ``C <= M`` the two GEMMs of the explicit path are as
    fast or faster, so it is kept there.
    """
    _check_feature_map(f)
    if not need_map and f.shape[1] > f.shape[2] * f.shape[3]:
        return fused_channel_attention(f, scale), None
    c_map = channel_relation(f, scale)
    e = channel_aggregate(f, c_map)
    return e, (c_map if need_map else None)
