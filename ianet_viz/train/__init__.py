"""Training and evaluation of IANet: ``python -m ianet_viz.train`` and the API the notebooks call.

    from ianet_viz.train import TrainConfig, train, evaluate, load_model

    cfg = TrainConfig(dataset="synthetic", backbone="resnet18", height=128, width=64, epochs=5,
                      output="runs/synthetic-r18", num_workers=0)
    result = train(cfg)                 # writes checkpoint.pt, log.jsonl, steps.jsonl, metrics.json, config.yaml
    result.metrics["mAP"], result.history, result.model
    evaluate(result.model, dataset, height=128, width=64)   # dataset with .query/.gallery
    run = load_run("runs/synthetic-r18")   # .model, .config, .metrics (a run folder, best.pt or weights file)

Recipes: ``paper`` (Hou et al. 2019: cross-entropy, Adam 3e-4, batch 32, flip, 256x128) and
``modern`` (+ label smoothing, batch-hard triplet with a PK sampler, warm-up, random erasing,
BNNeck). See :class:`TrainConfig` for every option and :mod:`ianet_viz.train.engine` for how
resumed runs stay bit-for-bit identical to uninterrupted ones.

Modules: :mod:`.config` (``TrainConfig``, recipes), :mod:`.engine` (the loop, resume),
:mod:`.runs` (build, save, load and re-evaluate a trained model), :mod:`.logs` (a run folder's
file names, its JSON-lines logs, TensorBoard), :mod:`.optim` (parameter groups, LR schedule),
:mod:`.loaders` (datasets -> data loaders), :mod:`.transforms`, :mod:`.samplers`, :mod:`.losses`,
:mod:`.retrieval` (features -> CMC/mAP), :mod:`.checkpoint`, :mod:`.distributed`, :mod:`.export`
(TorchScript / ONNX), ``__main__`` (the command line).
The course's demo model is :mod:`ianet_viz.course`.
"""

from .checkpoint import atomic_save, atomic_write_json, load_checkpoint, save_checkpoint
from .config import DATASETS, RECIPE_DEFAULTS, RECIPES, TrainConfig
from .loaders import build_test_loader, build_train_loader, load_dataset
from .engine import TrainingDiverged, TrainResult, seed_everything, train
from .logs import read_log
from .optim import lr_factor
from .runs import TrainedModel, build_model, evaluate_run, load_model, load_run, saved_metrics
from .export import export_model
from .retrieval import evaluate, extract_features, resolve_device
from .losses import ReIDLoss, TripletLoss, batch_hard_triplet_loss
from .samplers import PKSampler, RandomBatchSampler
from .transforms import build_transforms

__all__ = [
    "TrainConfig", "TrainResult", "TrainingDiverged", "train", "evaluate", "extract_features",
    "load_model", "load_run", "TrainedModel", "saved_metrics", "evaluate_run", "export_model", "build_model",
    "read_log", "load_dataset", "build_train_loader", "build_test_loader",
    "build_transforms", "PKSampler", "RandomBatchSampler", "ReIDLoss", "TripletLoss",
    "batch_hard_triplet_loss", "save_checkpoint", "load_checkpoint", "atomic_save", "atomic_write_json",
    "lr_factor", "seed_everything", "resolve_device", "DATASETS", "RECIPES", "RECIPE_DEFAULTS",
]
