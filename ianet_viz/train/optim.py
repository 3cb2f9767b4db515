"""The optimiser's parameter groups and the learning-rate schedule of a training run."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from torch import nn

from .config import TrainConfig

__all__ = ["lr_factor", "param_groups"]


def lr_factor(cfg: TrainConfig, epoch: int) -> float:
    """LR multiplier during (0-based) ``epoch``: linear warm-up, then x gamma at each milestone."""
    f = 1.0
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        f = cfg.warmup_factor + (1.0 - cfg.warmup_factor) * epoch / cfg.warmup_epochs
    return f * cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)


def param_groups(model: nn.Module, cfg: TrainConfig) -> List[Dict[str, Any]]:
    """Optimiser groups: the IA blocks' BatchNorm parameters (eq. 9's gate, zero at init) get
    ``cfg.ia_bn_weight_decay`` when it is set; everything else gets ``cfg.weight_decay``. Every
    IA-block parameter gets the learning rate times ``cfg.ia_lr_mult``, every backbone parameter
    times ``cfg.backbone_lr_mult``."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    ia = {id(p) for name, p in model.named_parameters() if name.startswith("ia_blocks.")}
    backbone = {id(p) for name, p in model.named_parameters() if name.startswith("backbone.")}
    gate = {id(p) for name, m in model.named_modules() if name.startswith("ia_blocks.")
            and isinstance(m, nn.modules.batchnorm._BatchNorm) for p in m.parameters()}
    gate_decay = cfg.weight_decay if cfg.ia_bn_weight_decay is None else cfg.ia_bn_weight_decay
    # one group per distinct setting, in model order: the defaults give one group, as before the
    # options existed, so older checkpoints' optimiser states still load
    groups: Dict[Tuple[float, float], List[nn.Parameter]] = {}
    for p in trainable:
        decay = gate_decay if id(p) in gate else cfg.weight_decay
        lr_mult = cfg.ia_lr_mult if id(p) in ia else cfg.backbone_lr_mult if id(p) in backbone else 1.0
        groups.setdefault((decay, lr_mult), []).append(p)
    return [{"params": params, "weight_decay": decay, **({"lr": cfg.lr * mult} if mult != 1.0 else {})}
            for (decay, mult), params in groups.items()]
