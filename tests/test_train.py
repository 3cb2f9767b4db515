"""Tests for ianet_viz.train: CLI run, resume equivalence, atomic checkpoints, samplers, losses.

Everything runs the real ``build_ianet`` (ResNet-18 with IA blocks) on a tiny synthetic dataset
(8 identities x 6 images at 64x32, generated once per module) with one torch thread.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from ianet_viz.metrics import evaluate_rank
from ianet_viz.synthetic import generate_dataset
from ianet_viz.train import (PKSampler, RandomBatchSampler, TrainConfig, TrainingDiverged,
                             atomic_save, batch_hard_triplet_loss, build_train_loader,
                             evaluate, load_checkpoint, load_model, read_log, train)
from ianet_viz.train.__main__ import main as cli_main
from ianet_viz.train.loaders import load_dataset, relabel, set_loader_epoch
from ianet_viz.train.losses import ReIDLoss

IDS, IMAGES, H, W = 8, 6, 64, 32


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return str(generate_dataset(tmp_path_factory.mktemp("synth"), identities=IDS,
                                images_per_identity=IMAGES, seed=0, height=H, width=W))


def tiny_config(root, output, **kw):
    base = dict(dataset="synthetic", data_root=root, synthetic_identities=IDS, synthetic_images=IMAGES,
                height=H, width=W, backbone="resnet18", epochs=1, batch_size=8, num_workers=0,
                progress=False, output=str(output), eval_batch_size=64)
    base.update(kw)
    return TrainConfig(**base)


# ----------------------------------------------------------------------------- end to end

def test_cli_one_epoch_writes_run_files(synth_root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    rc = cli_main([
        "--dataset", "synthetic", "--data-root", synth_root, "--synthetic-identities", str(IDS),
        "--synthetic-images", str(IMAGES), "--backbone", "resnet18", "--height", str(H),
        "--width", str(W), "--epochs", "1", "--batch-size", "8", "--num-workers", "0",
        "--ia-stages", "2", "3", "--ks", "1", "2", "--no-progress", "--output", str(run),
        "--max-steps-per-epoch", "2",
    ])
    assert rc == 0
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("mAP", "rank1", "rank5", "rank10", "epoch", "config", "cmc"):
        assert key in metrics
    assert metrics["epoch"] == 1 and 0 <= metrics["mAP"] <= 1 and 0 <= metrics["rank1"] <= metrics["rank10"] <= 1
    assert metrics["config"]["ks"] == [1, 2] and metrics["config"]["recipe"] == "paper"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1
    for key in ("epoch", "loss", "acc", "lr", "time", "mAP", "rank1"):
        assert key in log[0]
    assert log[0]["lr"] == pytest.approx(3e-4) and log[0]["steps"] == 2
    ckpt = load_checkpoint(run)
    for key in ("model", "optimizer", "scheduler", "epoch", "config", "rng", "sampler"):
        assert key in ckpt
    assert set(ckpt["rng"]) >= {"torch", "numpy", "python"}
    assert ckpt["epoch"] == 1 and ckpt["sampler"]["epoch"] == 0
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]
    # the checkpoint rebuilds the model for the notebooks
    model = load_model(run)
    assert not model.training and len(model.ia_blocks) == 2
    # ... and the notebook-facing evaluate() reproduces the run's numbers (flip TTA is an option)
    dataset = load_dataset(tiny_config(synth_root, run).resolved())
    again = evaluate(model, dataset, height=H, width=W, progress=False)
    assert again["mAP"] == pytest.approx(metrics["mAP"], abs=1e-6)
    assert again["num_query"] == len(dataset.query) and len(again["cmc"]) == 50
    flipped = evaluate(model, query=dataset.query, gallery=dataset.gallery, height=H, width=W,
                       flip=True, metric="euclidean", progress=False)
    assert 0 <= flipped["mAP"] <= 1
    # distances=True hands back what a retrieval grid needs; the metrics follow from them again
    full = evaluate(model, dataset, height=H, width=W, progress=False, distances=True, max_rank=5)
    assert full["distmat"].shape == (len(dataset.query), len(dataset.gallery))
    cmc, mAP = evaluate_rank(full["distmat"], full["q_pids"], full["g_pids"], full["q_camids"], full["g_camids"],
                             max_rank=5)
    assert full["mAP"] == pytest.approx(mAP) == pytest.approx(metrics["mAP"], abs=1e-6)
    assert "distmat" not in again

    # an existing run is not overwritten by accident; a changed config refuses to resume
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config(synth_root, run, ks=(1, 2), max_steps_per_epoch=2))
    with pytest.raises(ValueError, match="lr: checkpoint has 0.0003, now 0.001"):
        train(tiny_config(synth_root, run, ks=(1, 2), max_steps_per_epoch=2, lr=1e-3, resume=True, epochs=2))

    # a NaN loss stops training with a clear error and keeps the last good checkpoint
    def nan_loss(self, logits, pids, feat=None):
        loss = logits.sum() * float("nan")
        return loss, {"ce": loss.detach()}

    monkeypatch.setattr(ReIDLoss, "forward", nan_loss)
    before = (run / "checkpoint.pt").read_bytes()
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(tiny_config(synth_root, run, ks=(1, 2), max_steps_per_epoch=2, resume=True, epochs=2,
                          milestones=()))
    assert (run / "checkpoint.pt").read_bytes() == before


def test_resume_equals_uninterrupted(synth_root, tmp_path):
    """1 epoch + resumed 2nd epoch == 2 uninterrupted epochs (modern recipe: PK sampler,
    random erasing, flips, label smoothing, triplet, warm-up and a milestone all involved)."""
    kw = dict(recipe="modern", epochs=2, num_instances=2, warmup_epochs=1, warmup_factor=0.5, milestones=(1,),
              max_steps_per_epoch=2, ia_stages=(3,))
    full = train(tiny_config(synth_root, tmp_path / "full", **kw))
    part = train(tiny_config(synth_root, tmp_path / "part", **kw), callback=lambda rec: False)
    assert part.stopped_early and load_checkpoint(tmp_path / "part")["epoch"] == 1
    resumed = train(tiny_config(synth_root, tmp_path / "part", resume=True, **kw))

    assert [r["epoch"] for r in read_log(tmp_path / "part")] == [1, 2]
    assert "triplet" in full.history[0]
    assert full.history[0]["lr"] == pytest.approx(3.5e-4 * 0.5)  # warm-up
    assert full.history[1]["lr"] == pytest.approx(3.5e-5)  # milestone
    for a, b in zip(full.history, read_log(tmp_path / "part")):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
        assert a["lr"] == pytest.approx(b["lr"])
    assert abs(full.metrics["mAP"] - resumed.metrics["mAP"]) <= 1e-4
    assert abs(full.metrics["rank1"] - resumed.metrics["rank1"]) <= 1e-4
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=1e-5, rtol=1e-5, msg=k)


def test_loader_workers_deterministic_per_epoch(synth_root):
    """With worker processes, the augmented batches of an epoch depend only on (seed, epoch)."""
    cfg = tiny_config(synth_root, "unused", recipe="modern", num_instances=2, num_workers=2,
                      erasing_p=0.5).resolved()
    items, _ = relabel(load_dataset(cfg).train)

    def epoch_batches(epoch):
        loader, sampler = build_train_loader(cfg, items)
        set_loader_epoch(loader, sampler, cfg.seed, epoch)
        return [(b[0].clone(), list(b[3])) for _, b in zip(range(2), loader)]

    a, b, c = epoch_batches(3), epoch_batches(3), epoch_batches(4)
    for (xa, pa), (xb, pb) in zip(a, b):
        assert pa == pb and torch.equal(xa, xb)
    assert any(pa != pc or not torch.equal(xa, xc) for (xa, pa), (xc, pc) in zip(a, c))


@pytest.mark.slow
def test_ddp_two_processes_gloo(synth_root, tmp_path):
    """torchrun with 2 CPU processes (gloo): trains, and only rank 0 writes the run files."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ianet_viz.train", "--dataset", "synthetic", "--data-root", synth_root,
           "--synthetic-identities", str(IDS), "--synthetic-images", str(IMAGES), "--backbone", "resnet18",
           "--height", str(H), "--width", str(W), "--epochs", "1", "--batch-size", "8", "--recipe", "modern",
           "--num-instances", "2", "--num-workers", "0", "--no-progress", "--ia-stages", "3",
           "--max-steps-per-epoch", "2", "--output", str(run)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = read_log(run)
    assert [r["epoch"] for r in log] == [1]  # one record: rank 1 wrote nothing
    assert log[0]["images"] == 16  # 2 steps x global batch 8 (2 ranks x 2 ids x K=2)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["mAP"] <= 1 and metrics["epoch"] == 1
    assert load_checkpoint(run)["epoch"] == 1
    assert sorted(os.listdir(run)) == ["checkpoint.pt", "config.yaml", "log.jsonl", "metrics.json", "steps.jsonl"]
    assert [r["step"] for r in read_log(run, "steps.jsonl")] == [1, 2]  # the losses of both ranks, once


# ----------------------------------------------------------------------------- checkpoint

def test_atomic_checkpoint_survives_crash_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    good = {"epoch": 1, "w": torch.arange(10.0)}
    atomic_save(good, path)
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a checkpoint")  # part of the file is written ...
        raise OSError("disk full")  # ... then the process "dies"

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"epoch": 2, "w": torch.zeros(10)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 1 and torch.equal(loaded["w"], good["w"])
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]  # no temp file left behind


# ----------------------------------------------------------------------------- samplers

def _pids():
    # 7 identities with 2..9 images each, interleaved in dataset order
    counts = [2, 9, 5, 4, 7, 3, 6]
    pids = [pid for pid, c in enumerate(counts) for _ in range(c)]
    return list(np.random.default_rng(0).permutation(pids))


def test_pk_sampler_batches_deterministic_and_resumable():
    pids = _pids()
    s = PKSampler(pids, p=3, k=4, seed=5)
    s.set_epoch(0)
    batches = list(s)
    assert len(batches) == len(s) > 0
    for b in batches:
        assert len(b) == 12
        c = Counter(pids[i] for i in b)
        assert len(c) == 3 and set(c.values()) == {4}
    again = PKSampler(pids, p=3, k=4, seed=5)
    again.set_epoch(0)
    assert list(again) == batches
    s.set_epoch(1)
    assert list(s) != batches
    other = PKSampler(pids, p=3, k=4, seed=6)
    other.set_epoch(0)
    assert list(other) != batches
    # state round trip (what the checkpoint stores)
    restored = PKSampler(pids, p=3, k=4, seed=0)
    restored.load_state_dict(s.state_dict())
    assert list(restored) == list(s)
    with pytest.raises(ValueError, match="identities"):
        PKSampler(pids, p=8, k=4)


def test_sampler_split_across_ranks():
    pids = _pids()
    glob = PKSampler(pids, p=4, k=2, seed=1)
    ranks = [PKSampler(pids, p=4, k=2, seed=1, rank=r, world_size=2) for r in range(2)]
    for s in [glob, *ranks]:
        s.set_epoch(3)
    shares = [list(r) for r in ranks]
    assert len(shares[0]) == len(shares[1]) == len(glob)
    for full, b0, b1 in zip(glob, *shares):
        assert b0 + b1 == full and not set(b0) & set(b1)
        # each rank holds whole identities: 2 ids x K=2
        for b in (b0, b1):
            assert sorted(Counter(pids[i] for i in b).values()) == [2, 2]
            assert not {pids[i] for i in b0} & {pids[i] for i in b1}
    rb = [RandomBatchSampler(50, 10, seed=2, rank=r, world_size=2) for r in range(2)]
    g = RandomBatchSampler(50, 10, seed=2)
    for s in [g, *rb]:
        s.set_epoch(1)
    assert [a + b for a, b in zip(*rb)] == list(g) and len(g) == 5
    with pytest.raises(ValueError, match="divisible"):
        PKSampler(pids, p=3, k=2, world_size=2)


def test_dataset_errors():
    cfg = TrainConfig(batch_size=8, num_workers=0).resolved()
    one_id = [(f"img{i}.jpg", 0, 0) for i in range(20)]
    with pytest.raises(ValueError, match="at least 2"):
        build_train_loader(cfg, one_id)
    small = [(f"img{i}.jpg", i % 2, 0) for i in range(5)]
    with pytest.raises(ValueError, match="larger than the training set"):
        build_train_loader(cfg, small)
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainConfig(dataset="imagenet").resolved()
    with pytest.raises(ValueError, match="multiple of num_instances"):
        TrainConfig(recipe="modern", batch_size=30, num_instances=4).resolved()
    with pytest.raises(SystemExit):
        cli_main(["--dataset", "nope"])


# ----------------------------------------------------------------------------- losses

def test_batch_hard_triplet_matches_naive_loop():
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(12, 5, generator=g, dtype=torch.float64)
    pids = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4])  # pid 4: no positive -> left out
    margin = 0.3
    terms = []
    for i in range(len(pids)):
        pos = [torch.dist(feat[i], feat[j]) for j in range(len(pids)) if j != i and pids[j] == pids[i]]
        neg = [torch.dist(feat[i], feat[j]) for j in range(len(pids)) if pids[j] != pids[i]]
        if pos and neg:
            terms.append(torch.clamp(max(pos) - min(neg) + margin, min=0))
    naive = torch.stack(terms).mean()
    loss = batch_hard_triplet_loss(feat, pids, margin)
    torch.testing.assert_close(loss, naive.to(loss.dtype), atol=1e-5, rtol=1e-5)
    soft = batch_hard_triplet_loss(feat, pids, None)
    assert soft > 0
    # gradients flow to the features
    f = feat.clone().float().requires_grad_(True)
    batch_hard_triplet_loss(f, pids).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    # no anchor with a positive: 0, still attached to the graph (and no NaN gradient)
    f = feat.clone().float().requires_grad_(True)
    none = batch_hard_triplet_loss(f[:4], torch.arange(4))
    none.backward()
    assert none.item() == 0 and torch.equal(f.grad, torch.zeros_like(f))


def test_modern_loss_uses_label_smoothing_and_triplet():
    logits = torch.randn(8, 4)
    pids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    feat = torch.randn(8, 16)
    crit = ReIDLoss(label_smoothing=0.1, triplet_weight=1.0, margin=0.3)
    total, parts = crit(logits, pids, feat)
    ce = torch.nn.functional.cross_entropy(logits, pids, label_smoothing=0.1)
    torch.testing.assert_close(parts["ce"], ce)
    torch.testing.assert_close(total, ce + batch_hard_triplet_loss(feat, pids, 0.3))
    with pytest.raises(ValueError, match="return_features"):
        crit(logits, pids)


def test_ablation_flags_reach_the_model():
    """Tab. 4b-f options go from the command line through TrainConfig to build_ianet."""
    from ianet_viz.train.__main__ import build_parser, config_from_args
    from ianet_viz.train.runs import build_model

    args = build_parser().parse_args([
        "--backbone", "resnet18", "--ia-stages", "2", "--multi", "max", "--relation", "location",
        "--per-block", "--sia-scale", "0.5", "--arrangement", "sia", "--pretrained", "none",
    ])
    cfg = config_from_args(args)
    assert (cfg.multi, cfg.use_appearance, cfg.use_location, cfg.per_block, cfg.sia_scale) == ("max", False, True, True, 0.5)
    model = build_model(cfg, num_classes=3)
    assert list(model.ia_blocks) == ["stage2_b0", "stage2_b1"]
    sia = model.ia_blocks["stage2_b1"].sia
    assert (sia.multi, sia.use_appearance, sia.use_location, sia.scale) == ("max", False, True, 0.5)


def test_ia_bn_weight_decay_groups_only_the_gate():
    """--ia-bn-weight-decay reaches the optimiser: the IA blocks' BatchNorm params, and only they."""
    from ianet_viz.train.__main__ import build_parser, config_from_args
    from ianet_viz.train.optim import param_groups
    from ianet_viz.train.runs import build_model

    cfg = config_from_args(build_parser().parse_args(["--backbone", "resnet18", "--ia-bn-weight-decay", "0",
                                                      "--pretrained", "none"]))
    assert cfg.ia_bn_weight_decay == 0.0
    model = build_model(cfg, num_classes=3)
    groups = param_groups(model, cfg)
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert sum(len(g["params"]) for g in groups) == len(decay) == sum(1 for p in model.parameters() if p.requires_grad)
    gate = {id(m.bn.weight) for blk in model.ia_blocks.values() for m in (blk.sia, blk.cia)}
    assert len(gate) == 4 and all(decay[i] == 0.0 for i in gate)
    assert decay[id(model.backbone.layer3[0].bn1.weight)] == cfg.weight_decay == 5e-4
    assert decay[id(model.neck.weight)] == 5e-4  # a BatchNorm outside the IA blocks keeps the decay
    default = TrainConfig(backbone="resnet18")
    assert [g["weight_decay"] for g in param_groups(model, default)] == [5e-4]


def test_resume_accepts_a_checkpoint_older_than_a_new_default_field():
    from ianet_viz.train.config import config_differences

    current = TrainConfig().to_dict()
    old = {k: v for k, v in current.items() if k != "ia_bn_weight_decay"}
    assert config_differences(old, current) == []
    assert config_differences(old, dict(current, ia_bn_weight_decay=0.0)) != []


def test_demo_model_trains_once_then_loads(tmp_path, monkeypatch):
    import ianet_viz.course.demo as demo
    from ianet_viz.course import demo_model

    kw = dict(smoke=True, progress=False, output=str(tmp_path / "demo"), height=64, width=32,
              synthetic_identities=4, synthetic_images=4, epochs=1, max_steps_per_epoch=1, batch_size=8,
              data_root=str(tmp_path / "syn"))
    model, run = demo_model(**kw)
    assert (run / "metrics.json").is_file() and not model.training
    monkeypatch.setattr(demo, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again, _ = demo_model(**kw)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- the instructor's path

def test_pretrained_auto_is_imagenet_for_real_datasets_only():
    """The paper starts from ImageNet: --pretrained auto (the default) does so for the photographed
    datasets, never for the offline course's synthetic people and vtest crops."""
    from ianet_viz.train.__main__ import build_parser, config_from_args

    for name in ("market1501", "dukemtmcreid", "cuhk03", "msmt17"):
        for recipe in ("paper", "modern"):
            assert TrainConfig(dataset=name, recipe=recipe, pretrained="auto").resolved().pretrained == "imagenet"
    for name in ("synthetic", "vtest"):
        assert TrainConfig(dataset=name, pretrained="auto").resolved().pretrained is None
    assert TrainConfig().pretrained is None  # in Python, nothing downloads unless asked for
    assert TrainConfig(dataset="market1501", pretrained="none").resolved().pretrained is None
    assert TrainConfig(dataset="market1501", pretrained="w.pth").resolved().pretrained == "w.pth"
    assert config_from_args(build_parser().parse_args([])).pretrained == "auto"
    assert config_from_args(build_parser().parse_args(["--pretrained", "none"])).pretrained is None


def test_resume_keeps_the_start_of_the_run_and_needs_no_weights_file(synth_root, tmp_path):
    """A resumed run's weights come from its checkpoint: 'auto' keeps the start the checkpoint records,
    and the weights file it started from is not read again (it may be gone, or offline)."""
    import torchvision

    weights = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    kw = dict(epochs=2, max_steps_per_epoch=1, ia_stages=(3,), milestones=())
    train(tiny_config(synth_root, tmp_path / "run", pretrained=str(weights), **kw), callback=lambda rec: False)
    weights.unlink()
    resumed = train(tiny_config(synth_root, tmp_path / "run", resume=True, pretrained="auto", **kw))  # as the CLI
    assert resumed.config.pretrained == str(weights) == load_checkpoint(tmp_path / "run")["config"]["pretrained"]
    assert [r["epoch"] for r in resumed.history] == [1, 2]


def test_batch_size_is_global_and_per_gpu_is_converted(monkeypatch):
    assert TrainConfig(batch_size_per_gpu=16).resolved().batch_size == 16
    monkeypatch.setenv("WORLD_SIZE", "4")  # what torchrun sets
    c = TrainConfig(batch_size_per_gpu=16).resolved()
    assert (c.batch_size, c.batch_size_per_gpu) == (64, None)  # the run records the global batch only
    assert TrainConfig(batch_size=64, batch_size_per_gpu=16).resolved().batch_size == 64
    with pytest.raises(ValueError, match="give only one of --batch-size and --batch-size-per-gpu"):
        TrainConfig(batch_size=32, batch_size_per_gpu=16).resolved()


def test_sync_batchnorm_converts_every_batchnorm_and_keeps_the_parameters():
    from ianet_viz import build_ianet
    from ianet_viz.train.engine import sync_batchnorm

    model = build_ianet("resnet18", num_classes=4, ia_stages=(3,))
    n_bn = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    params = {id(p) for p in model.parameters()}
    converted = sync_batchnorm(model)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules()) == n_bn
    assert {id(p) for p in converted.parameters()} == params  # an optimiser built before still holds them
    assert set(converted.state_dict()) == set(build_ianet("resnet18", num_classes=4, ia_stages=(3,)).state_dict())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, root, out, result_dir):
    """One gloo rank (torch.multiprocessing.spawn): records the images of every training step."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from ianet_viz.train import engine

    seen, build = [], engine.build_model

    def build_and_watch(cfg, num_classes):
        model = build(cfg, num_classes)
        model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]) if m.training else None)
        return model

    engine.build_model = build_and_watch
    try:  # --sync-bn on CPUs: a clear error before any work (SyncBatchNorm is CUDA only)
        train(tiny_config(root, out, sync_bn=True))
        sync_error = ""
    except ValueError as err:
        sync_error = str(err)
    train(tiny_config(root, out, batch_size_per_gpu=4, max_steps_per_epoch=2, ia_stages=(3,)))
    Path(result_dir, f"rank{rank}.json").write_text(json.dumps({"steps": seen, "sync_error": sync_error}))


@pytest.mark.slow
def test_ddp_two_gloo_ranks_share_the_global_batch(synth_root, tmp_path):
    """2 CPU ranks (gloo, torch.multiprocessing.spawn): --batch-size-per-gpu 4 is a global batch of 8,
    each rank trains on 4 images per step, and the run records the global batch."""
    import torch.multiprocessing as mp

    run = tmp_path / "ddp"
    mp.spawn(_ddp_worker, args=(2, _free_port(), synth_root, str(run), str(tmp_path)), nprocs=2)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["steps"] == [4, 4], f"rank {rank} trained on {got['steps']} images per step"
        assert "--sync-bn needs CUDA" in got["sync_error"]
    assert read_log(run)[0]["images"] == 16  # 2 steps x global batch 8
    saved = load_checkpoint(run)["config"]
    assert (saved["batch_size"], saved["batch_size_per_gpu"]) == (8, None)


def test_one_epoch_is_the_same_for_any_worker_count(synth_root, tmp_path):
    """The augmentation (flip, random erasing) is seeded per drawn image, not per worker: the same
    epoch with 0 and with 2 loader workers trains the same weights, so num_workers may change on a
    resume (it is in RESUME_MAY_DIFFER)."""
    kw = dict(recipe="modern", num_instances=2, max_steps_per_epoch=2, ia_stages=(3,), erasing_p=0.5)
    a = train(tiny_config(synth_root, tmp_path / "w0", num_workers=0, **kw)).model.state_dict()
    b = train(tiny_config(synth_root, tmp_path / "w2", num_workers=2, **kw)).model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# the files whose code runs the training step on the device (the data pipeline runs on the CPU by design)
_STEP_CODE = ("engine.py", "losses.py", "model.py", "modules.py", "functional.py", "kernels.py")


@pytest.mark.parametrize("log_every, reads", [(2, 2), (4, 1)])
def test_training_loop_reads_the_device_once_per_logging_interval(synth_root, tmp_path, monkeypatch,
                                                                  log_every, reads):
    """Every .item() / float() / .tolist() / bool() of a device tensor makes the CPU wait for the GPU.
    The loop adds up loss and accuracy on the device and reads them once per logging interval:
    4 steps with --log-every 2 are 2 reads, with --log-every 4 one (the modern recipe: triplet too)."""
    from ianet_viz.train import engine

    calls = []
    counting = [True]

    def counted(name):
        real = getattr(torch.Tensor, name)

        def wrapper(self, *a, **k):
            caller = sys._getframe(1).f_code.co_filename
            if counting[0] and "ianet_viz" in caller and caller.endswith(_STEP_CODE):
                calls.append((name, os.path.basename(caller), sys._getframe(1).f_lineno))
            return real(self, *a, **k)
        return wrapper

    for name in ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, counted(name))
    real_evaluate = engine.evaluate

    def evaluate_uncounted(*a, **k):  # evaluation reads its features back by design
        counting[0] = False
        return real_evaluate(*a, **k)

    monkeypatch.setattr(engine, "evaluate", evaluate_uncounted)
    result = train(tiny_config(synth_root, tmp_path / "run", recipe="modern", num_instances=2, ia_stages=(3,),
                               batch_size=4, max_steps_per_epoch=4, log_every=log_every))
    assert result.history[0]["steps"] == 4
    assert len(calls) == reads, calls


# ----------------------------------------------------------------------------- what re-ID users expect

@pytest.fixture(scope="module")
def evaluated_run(synth_root, tmp_path_factory):
    """One CLI run of 2 epochs x 2 steps, evaluated after each epoch (--eval-every 1), step log every step."""
    run = tmp_path_factory.mktemp("users") / "run"
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    rc = cli_main([
        "--dataset", "synthetic", "--data-root", synth_root, "--synthetic-identities", str(IDS),
        "--synthetic-images", str(IMAGES), "--backbone", "resnet18", "--height", str(H), "--width", str(W),
        "--epochs", "2", "--batch-size", "8", "--num-workers", "0", "--ia-stages", "3", "--no-progress",
        "--max-steps-per-epoch", "2", "--eval-every", "1", "--log-every", "1", "--eval-batch-size", "64",
        "--output", str(run)])
    torch.set_num_threads(old)
    assert rc == 0
    return run


def test_steps_jsonl_has_every_step_and_log_jsonl_stays_per_epoch(evaluated_run):
    steps = read_log(evaluated_run, "steps.jsonl")
    assert [(r["epoch"], r["step"]) for r in steps] == [(1, 1), (1, 2), (2, 3), (2, 4)]
    assert all(np.isfinite(r["loss"]) for r in steps)
    log = read_log(evaluated_run)  # what notebook 03 and the resume code read: one record per epoch
    assert [r["epoch"] for r in log] == [1, 2] and all("step" not in r for r in log)
    assert log[0]["loss"] == pytest.approx(np.mean([r["loss"] for r in steps[:2]]))


def test_best_pt_is_the_best_evaluation_and_loads_like_a_run(evaluated_run):
    from ianet_viz.train import load_run

    log = read_log(evaluated_run)
    best = load_run(evaluated_run / "best.pt")
    assert best.metrics["mAP"] == max(r["mAP"] for r in log)
    assert best.epoch == max(log, key=lambda r: r["mAP"])["epoch"]  # the first of equals
    # a run folder: its checkpoint has no metrics key, they come from metrics.json
    assert "metrics" not in load_checkpoint(evaluated_run)
    last = load_run(evaluated_run)
    assert last.metrics["mAP"] == log[-1]["mAP"] and last.epoch == 2 and not last.model.training
    # a shipped weights file carries its own metrics
    from ianet_viz.course.demo import WEIGHTS

    if WEIGHTS.is_file():
        shipped = load_run(WEIGHTS)
        assert 0 < shipped.metrics["mAP"] < 1 and shipped.config.backbone == "resnet18"


def test_no_best_pt_without_eval_every(synth_root, tmp_path):
    train(tiny_config(synth_root, tmp_path / "run", max_steps_per_epoch=1, ia_stages=(3,)))
    assert not (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "config.yaml").is_file()


def test_a_backbone_file_is_not_a_trained_model(tmp_path):
    from ianet_viz.train import load_run
    from ianet_viz.train.checkpoint import FORMAT

    atomic_save({"format": FORMAT, "config": TrainConfig().to_dict(), "epoch": 6, "model": {}}, tmp_path / "bb.pt")
    with pytest.raises(ValueError, match="--pretrained FILE"):
        load_run(tmp_path / "bb.pt")


def test_config_yaml_round_trips_and_flags_override_it(evaluated_run, tmp_path):
    import yaml

    from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags

    def from_cli(argv):
        return config_from_args(build_parser().parse_args(argv), given_flags(argv)).resolved()

    saved = yaml.safe_load((evaluated_run / "config.yaml").read_text())
    ran = TrainConfig.from_dict(load_checkpoint(evaluated_run)["config"]).to_dict()
    assert saved == {k: v for k, v in ran.items() if k not in ("resume", "overwrite")}
    again = from_cli(["--config", str(evaluated_run / "config.yaml")]).to_dict()
    assert {k: v for k, v in again.items() if k in saved} == saved  # the same run
    # flags typed on the command line win; what they do not name comes from the file
    over = from_cli(["--config", str(evaluated_run / "config.yaml"), "--lr", "0.001", "--output", str(tmp_path)])
    assert (over.lr, over.output, over.backbone, over.ia_stages, over.max_steps_per_epoch) == \
        (0.001, str(tmp_path), "resnet18", (3,), 2)
    assert from_cli(["--config", str(evaluated_run / "metrics.json")]).backbone == "resnet18"  # a run's record
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_size: 16\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match="unknown setting.*learning_rate"):
        from_cli(["--config", str(bad)])
    short = tmp_path / "short.yaml"
    short.write_text("batch_size: 16\nia_stages: [2]\n")  # a hand-written file: the rest are the flags' defaults
    cfg = from_cli(["--config", str(short)])
    assert (cfg.batch_size, cfg.ia_stages, cfg.pretrained) == (16, (2,), "imagenet")  # market1501, --pretrained auto


def test_eval_only_writes_eval_json_and_keeps_metrics_json(evaluated_run, capsys, monkeypatch):
    metrics_before = (evaluated_run / "metrics.json").read_bytes()
    assert cli_main(["--eval-only", str(evaluated_run), "--flip-test", "--no-progress"]) == 0
    out = json.loads((evaluated_run / "eval.json").read_text())
    assert out["flip_test"] is True and out["rerank"] is False and out["epoch"] == 2 and 0 <= out["mAP"] <= 1
    assert (evaluated_run / "metrics.json").read_bytes() == metrics_before
    # evaluated without flips, the numbers are the training's own
    assert cli_main(["--eval-only", str(evaluated_run / "best.pt"), "--no-progress"]) == 0
    best = json.loads((evaluated_run / "best.eval.json").read_text())
    assert best["mAP"] == pytest.approx(max(r["mAP"] for r in read_log(evaluated_run)), abs=1e-6)
    # the model is the run's: model flags are refused, with the reason
    assert cli_main(["--eval-only", str(evaluated_run), "--backbone", "resnet50"]) == 2
    assert "cannot change it" in capsys.readouterr().err
    # --rerank hands the three distance matrices to ianet_viz.rerank.k_reciprocal_rerank
    import types

    seen = {}

    def fake_rerank(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
        seen.update(q_g=q_g.shape, q_q=q_q.shape, g_g=g_g.shape)
        return -q_g  # reversed ranking: a different mAP shows the result is used
    monkeypatch.setitem(sys.modules, "ianet_viz.rerank", types.SimpleNamespace(k_reciprocal_rerank=fake_rerank))
    assert cli_main(["--eval-only", str(evaluated_run), "--rerank", "--no-progress"]) == 0
    reranked = json.loads((evaluated_run / "eval.json").read_text())
    nq, ng = reranked["num_query"], reranked["num_gallery"]
    assert seen == {"q_g": (nq, ng), "q_q": (nq, nq), "g_g": (ng, ng)}
    assert reranked["rerank"] is True and reranked["mAP"] != pytest.approx(best["mAP"])


def test_export_torchscript_gives_the_same_embeddings(evaluated_run, tmp_path):
    from ianet_viz.train.export import export_model

    assert cli_main(["--eval-only", str(evaluated_run), "--no-progress", "--export", str(tmp_path / "m.pt")]) == 0
    model = load_model(evaluated_run)
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    x = torch.randn(3, 3, H, W)  # another batch size than the traced one
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), atol=1e-5, rtol=0)
    # with the IA blocks open (a fresh block is the identity), so SIA and CIA are in what is compared
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and m.weight.abs().sum() == 0:
            m.weight.data.fill_(0.5)
    scripted = torch.jit.load(str(export_model(model, tmp_path / "open.pt", H, W)))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"\.pt \(TorchScript\) or \.onnx"):
        export_model(model, tmp_path / "m.pth", H, W)
    try:
        import onnx  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install onnx"):
            export_model(model, tmp_path / "m.onnx", H, W)
    else:
        assert export_model(model, tmp_path / "m.onnx", H, W).stat().st_size > 0


def test_tensorboard_scalars_when_installed(synth_root, tmp_path, monkeypatch):
    import importlib.util

    from ianet_viz.train import engine

    if importlib.util.find_spec("tensorboard") is None:  # silently none without the package
        assert engine.summary_writer(tmp_path) is None
    scalars = []

    class FakeWriter:
        def add_scalar(self, tag, value, step):
            scalars.append((tag, step))

        def flush(self):
            pass

        def close(self):
            scalars.append(("closed", None))

    monkeypatch.setattr(engine, "summary_writer", lambda run_dir, purge_step=None: FakeWriter())
    train(tiny_config(synth_root, tmp_path / "run", max_steps_per_epoch=2, ia_stages=(3,), log_every=1))
    assert [s for t, s in scalars if t == "train/loss"] == [1, 2]
    assert ("epoch/loss", 2) in scalars and ("eval/mAP", 2) in scalars and scalars[-1] == ("closed", None)


def test_readme_instructor_commands_are_valid():
    """Every ianet_viz.train command of README's instructor section parses (flags exist, values fit)."""
    import shlex

    from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Instructors: train on a GPU", 1)[1].split("\n## ", 1)[0]
    commands = [c.split("#")[0] for c in section.replace("\\\n", " ").splitlines() if "-m ianet_viz.train" in c]
    assert len(commands) >= 5
    for command in commands:
        argv = shlex.split(command.split("-m ianet_viz.train", 1)[1])
        args = build_parser().parse_args(argv)
        if not args.eval_only and not args.config:
            assert config_from_args(args, given_flags(argv)).resolved().pretrained == "imagenet"


def test_eval_only_rerank_uses_the_real_k_reciprocal_rerank(evaluated_run):
    """--rerank: the metrics of eval.json are those of ianet_viz.rerank's re-ranked distances."""
    rerank = pytest.importorskip("ianet_viz.rerank")
    from ianet_viz.metrics import compute_distance_matrix
    from ianet_viz.train import build_test_loader
    from ianet_viz.train.retrieval import extract_features

    assert cli_main(["--eval-only", str(evaluated_run), "--rerank", "--no-progress"]) == 0
    out = json.loads((evaluated_run / "eval.json").read_text())
    model = load_model(evaluated_run)
    dataset = load_dataset(TrainConfig.from_dict(load_checkpoint(evaluated_run)["config"]).resolved())
    qf, qp, qc = extract_features(model, build_test_loader(dataset.query, H, W), progress=False)
    gf, gp, gc = extract_features(model, build_test_loader(dataset.gallery, H, W), progress=False)
    dist = rerank.k_reciprocal_rerank(*(compute_distance_matrix(a, b, "cosine").numpy()
                                        for a, b in ((qf, gf), (qf, qf), (gf, gf))))
    _, mAP = evaluate_rank(dist, qp, gp, qc, gc)
    assert out["rerank"] is True and out["mAP"] == pytest.approx(mAP, abs=1e-6)


def _hashes(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def test_export_onto_an_existing_file_is_refused_and_keeps_it(evaluated_run, tmp_path, capsys):
    """--export onto best.pt (or any file) changes nothing without --overwrite; with it the file is replaced."""
    before = _hashes(evaluated_run)
    assert cli_main(["--eval-only", str(evaluated_run), "--no-progress", "--export", str(evaluated_run / "best.pt")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    after = _hashes(evaluated_run)
    assert {k: v for k, v in after.items() if k != "eval.json"} == {k: v for k, v in before.items() if k != "eval.json"}
    copy = tmp_path / "old.pt"
    copy.write_bytes(b"an earlier export")
    assert cli_main(["--eval-only", str(evaluated_run), "--no-progress", "--export", str(copy), "--overwrite"]) == 0
    assert copy.read_bytes() != b"an earlier export" and not list(tmp_path.glob(".old.pt.tmp*"))


def test_a_new_run_keeps_a_folder_whose_checkpoint_was_deleted(evaluated_run, tmp_path, capsys):
    """A folder with best.pt, metrics.json and log.jsonl but no checkpoint.pt (deleted to save space) is a
    run's result: a new run there without --overwrite stops with one line and deletes nothing."""
    import shutil

    folder = tmp_path / "kept"
    shutil.copytree(evaluated_run, folder)
    (folder / "checkpoint.pt").unlink()
    before = _hashes(folder)
    rc = cli_main(["--dataset", "synthetic", "--backbone", "resnet18", "--height", str(H), "--width", str(W),
                   "--epochs", "1", "--no-progress", "--output", str(folder)])
    assert rc == 2 and "already holds a run" in capsys.readouterr().err
    assert _hashes(folder) == before


def test_config_file_values_are_read_by_the_flags_parsers(tmp_path):
    """YAML 1.1 reads 3e-4 as a string; a config file's values go through the flags' own parsers, under
    field or flag names, and a bad value is one error naming the key."""
    from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags

    def cfg(text):
        (tmp_path / "c.yaml").write_text(text)
        argv = ["--config", str(tmp_path / "c.yaml")]
        return config_from_args(build_parser().parse_args(argv), given_flags(argv))

    c = cfg("lr: 3e-4\nweight_decay: 5e-4\nepochs: '2'\nia_stages: none\nrelation: location\nbatch-size: 16\n")
    assert c.lr == 3e-4 and c.weight_decay == 5e-4 and c.epochs == 2 and c.ia_stages == ()
    assert (c.use_appearance, c.use_location) == (False, True) and c.batch_size == 16
    assert cfg("ks: [1, '2']\nsigma: ['5', 10]\n").ks == (1, 2)
    with pytest.raises(ValueError, match=r"epochs: 'two' is not what --epochs takes") as err:
        cfg("epochs: two\n")
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(ValueError, match="last_stride.*choose from"):
        cfg("last_stride: 3\n")
    with pytest.raises(ValueError, match="unknown setting.*flags' names"):
        cfg("learning_rate: 0.1\n")


def test_a_corrupt_or_exported_file_gets_one_line_saying_what_it_is(evaluated_run, tmp_path, capsys):
    """--resume / --eval-only on a damaged checkpoint, a TorchScript export or an ONNX file: one line that
    names what the file is and what to pass instead, exit code 2, no traceback, nothing changed."""
    import shutil

    bad = tmp_path / "run"
    shutil.copytree(evaluated_run, bad)
    ckpt = bad / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: len(ckpt.read_bytes()) // 3])  # a copy cut short
    before = _hashes(bad)
    assert cli_main(["--eval-only", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "damaged" in err and len(err.splitlines()) == 1 and "weights_only" not in err
    assert _hashes(bad) == before
    script = tmp_path / "model.pt"
    assert cli_main(["--eval-only", str(evaluated_run), "--no-progress", "--export", str(script)]) == 0
    capsys.readouterr()
    assert cli_main(["--eval-only", str(script), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "TorchScript export" in err and "run folder" in err and len(err.splitlines()) == 1
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07\x12\x07pytorch")
    assert cli_main(["--eval-only", str(onnx), "--no-progress"]) == 2
    assert "ONNX export" in capsys.readouterr().err


def test_argument_errors_are_one_line_and_help_shows_no_defaults_for_switches(capsys):
    from ianet_viz.train.__main__ import build_parser

    with pytest.raises(SystemExit) as exc:
        cli_main(["--epochs", "two"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 2 and "--epochs" in err[0] and "--help" in err[1]
    text = build_parser().format_help()
    assert "(default: True)" not in text and "(default: False)" not in text
    assert "(default: 50)" in text  # value flags keep theirs (--log-every)


def test_rerank_flags_reach_the_reranker_and_a_small_set_uses_every_image(evaluated_run, monkeypatch, capsys):
    """--rerank-k1/-k2/-lambda set k-reciprocal re-ranking; with fewer images than k1 + 1 every image is a
    neighbour (as torchreid's slicing does), with a one-line note, instead of an error."""
    import types

    seen = {}

    def fake_rerank(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
        seen.update(k1=k1, k2=k2, lambda_value=lambda_value, n=q_g.shape[0] + q_g.shape[1])
        return q_g

    monkeypatch.setitem(sys.modules, "ianet_viz.rerank", types.SimpleNamespace(k_reciprocal_rerank=fake_rerank))
    assert cli_main(["--eval-only", str(evaluated_run), "--rerank", "--no-progress", "--rerank-k1", "3",
                     "--rerank-k2", "2", "--rerank-lambda", "0.5"]) == 0
    assert (seen["k1"], seen["k2"], seen["lambda_value"]) == (3, 2, 0.5)
    capsys.readouterr()
    assert cli_main(["--eval-only", str(evaluated_run), "--rerank", "--no-progress", "--rerank-k1", "100000"]) == 0
    assert seen["k1"] == seen["n"] - 1
    err = capsys.readouterr().err
    assert "note: re-ranking" in err and "every image is one" in err
    assert json.loads((evaluated_run / "eval.json").read_text())["rerank_settings"]["k1"] == 100000


def test_sync_bn_in_one_process_is_said_once_and_errors_come_from_rank_0(synth_root, tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    argv = ["--dataset", "synthetic", "--data-root", synth_root, "--synthetic-identities", str(IDS),
            "--synthetic-images", str(IMAGES), "--backbone", "resnet18", "--height", str(H), "--width", str(W),
            "--epochs", "1", "--batch-size", "8", "--max-steps-per-epoch", "1", "--ia-stages", "none",
            "--no-progress", "--sync-bn", "--output", str(tmp_path / "run")]
    with pytest.warns(UserWarning, match="--sync-bn has no effect in a single process") as rec:
        assert cli_main(argv) == 0
    assert sum("--sync-bn" in str(w.message) for w in rec) == 1
    capsys.readouterr()
    monkeypatch.setenv("RANK", "1")  # another process of a torchrun: the same error, said by rank 0 only
    assert cli_main(["--eval-only", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit):
        cli_main(["--epochs", "two"])
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert cli_main(["--eval-only", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_copied_run_finds_its_dataset_under_ianet_data_dir(tmp_path, monkeypatch):
    """A run records an absolute --data-root; on another machine that folder is missing, and the dataset
    is found under IANET_DATA_DIR (settings.DATA_DIR) instead; when it is in neither, the recorded folder
    is kept, so the loader's error names it."""
    from ianet_viz import settings
    from ianet_viz.train.loaders import local_root

    cfg = TrainConfig(dataset="market1501", data_root=str(tmp_path / "gpu-box" / "market1501"))
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "laptop")
    assert local_root(cfg) == tmp_path / "gpu-box" / "market1501"
    (tmp_path / "laptop" / "market1501").mkdir(parents=True)
    assert local_root(cfg) == tmp_path / "laptop" / "market1501"
    (tmp_path / "gpu-box" / "market1501").mkdir(parents=True)
    assert local_root(cfg) == tmp_path / "gpu-box" / "market1501"  # the recorded folder wins where it exists


def test_metrics_json_says_how_best_pt_was_chosen(evaluated_run):
    m = json.loads((evaluated_run / "metrics.json").read_text())
    assert "test split" in m["best_selection"] and (evaluated_run / "best.pt").is_file()


def test_hold_out_identities_splits_whole_people_with_a_cross_camera_query():
    from ianet_viz.train.loaders import hold_out_identities

    items = [(f"{p:04d}_c{c}_{i}.jpg", p, c) for p in range(1, 11) for c in (1, 2) for i in range(3)]
    items += [("0011_c1_0.jpg", 11, 1), ("0011_c1_1.jpg", 11, 1)]  # one camera only: gallery, never a query
    train, query, gallery = hold_out_identities(items, 3)
    held = {p for _, p, _ in query + gallery}
    assert len(held) == 3 and held.isdisjoint({p for _, p, _ in train})
    assert len(train) + len(query) + len(gallery) == len(items)
    assert held == {1, 6, 11}  # spread over the sorted pids
    for p in held:  # one query per camera of each held-out person with two cameras, the rest in the gallery
        assert sorted(c for _, q, c in query if q == p) == ([] if p == 11 else [1, 2])
    assert hold_out_identities(items, 3) == (train, query, gallery)  # the same people every call
    assert hold_out_identities(items, 0)[0] == items
    with pytest.raises(ValueError, match="hold out fewer"):
        hold_out_identities(items, 11)


def test_val_ids_choose_best_pt_on_held_out_training_identities(synth_root, tmp_path):
    from ianet_viz.train import load_run

    run = tmp_path / "run"
    result = train(tiny_config(synth_root, run, epochs=2, max_steps_per_epoch=1, ia_stages=(), eval_every=1,
                               val_ids=2))
    log = read_log(run)
    assert all("val_mAP" in r and "mAP" in r for r in log)
    best = load_run(run / "best.pt")
    assert best.epoch == max(log, key=lambda r: r["val_mAP"])["epoch"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_ids"] == 2 and "validation identities" in metrics["best_selection"]
    assert result.model.classifier.out_features == IDS - IDS // 2 - 2  # the held-out people are not trained on
    with pytest.raises(ValueError, match="val_ids must be an integer >= 0"):
        TrainConfig(val_ids=-1).resolved()
