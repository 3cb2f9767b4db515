"""GPU throughput: training images/s of the baseline and IANet-R50 at 256x128, and the data-loader wait.

For every model (baseline ResNet-50 with last stride 1, IANet-R50 = SIA+CIA after stages 2 and 3)
x batch (64, 128) x precision (fp32, bf16 autocast) x compile (eager, ``torch.compile``) x memory
format (channels_last by default; ``--memory-format both`` adds contiguous NCHW), one training
step is cross-entropy on the identity logits + Adam (lr 3e-4, the paper's recipe). The model sees
one GPU-resident batch over and over, so the figure is the model's own throughput: ``--windows``
timed windows of ``--steps`` steps each (CUDA synchronised at both ends), median images/s.
fp32 runs with TF32 matmuls allowed (``torch.backends.cuda.matmul.allow_tf32``), as PyTorch
training scripts usually do; the SIA/CIA softmaxes stay float32 under bf16 autocast by design.

The data-loader wait is measured separately: a synthetic in-memory dataset (uint8 images,
converted to float, normalised and randomly flipped in the workers, as the real transform does
after decoding), a ``DataLoader`` with ``--workers`` workers and pinned memory, and the same
training step, synchronised after every step so that the time blocked in ``next(loader)`` + the
host-to-device copy is time the GPU sits idle for lack of a batch: the wait.
(Real JPEG decoding costs more than this; the figure is a lower bound on the wait.)

Then the training loop itself: ``ianet_viz.train.train`` (the engine the CLI runs) on a
Market-1501-layout folder of random JPEGs written to memory (``/dev/shm`` where there is one), for
2 epochs of ``--engine-steps`` steps; the second epoch is reported (the first starts the workers and
lets cuDNN pick its kernels): its images/s and the seconds it spent waiting for the loader
(``data_wait`` of the run's log: JPEG decoding, resizing and augmentation in ``--workers`` workers,
with the engine's own prefetching). The engine reads the loss from the GPU once per logging interval.

Without CUDA the script prints a clear SKIPPED message and exits 0 (``--device cpu`` runs the same
code on the CPU, for tests only).

The whole grid is 16 configurations, 8 of them compiled (each compile takes a minute or more; the
total on one H100 is an estimate, 15-25 minutes, not yet measured). Where a command has a shorter
time limit, split it:

    python -m benchmarks.gpu_throughput --compile off --write
    python -m benchmarks.gpu_throughput --compile on --loader-steps 0 --write --section gpu_throughput_compiled

    python -m benchmarks.gpu_throughput [--quick] [--write] [--batches 64 128] [--compile both]
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

import torch
from torch import nn

from benchmarks.common import command_line, describe_device, format_table, make_parser, median, section, sync, update_results
from ianet_viz.train.transforms import IMAGENET_MEAN, IMAGENET_STD

SKIP_MESSAGE = ("SKIPPED gpu_throughput: no CUDA device (torch.cuda.is_available() is False). "
                "This benchmark measures GPU training throughput; run it on a GPU machine: "
                "python -m benchmarks.gpu_throughput --write")

MODELS = {
    "baseline": dict(ia_stages=()),
    "IANet": dict(ia_stages=(2, 3), arrangement="sia+cia"),
}


class InMemoryImages(torch.utils.data.Dataset):
    """Synthetic uint8 images held in memory; ``__getitem__`` does what a transform does after decoding."""

    MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __init__(self, n: int, size=(256, 128), num_classes: int = 751, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, *size), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, num_classes, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255.0)
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        return (x - self.MEAN) / self.STD, self.labels[i]


def _autocast(device: str, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_step(model: nn.Module, opt: torch.optim.Optimizer, device: str, precision: str):
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        with _autocast(device, precision):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def build(name: str, device: str, channels_last: bool, backbone: str, num_classes: int):
    from ianet_viz import build_ianet

    torch.manual_seed(0)
    model = build_ianet(backbone, num_classes=num_classes, **MODELS[name]).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def throughput(cfg: Dict, args, device: str) -> Dict:
    """Images/s of one configuration on a resident batch (median over windows)."""
    model = build(cfg["model"], device, cfg["channels_last"], args.backbone, args.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    fwd = torch.compile(model) if cfg["compile"] else model
    step = make_step(fwd, opt, device, cfg["precision"])
    g = torch.Generator().manual_seed(1)
    x = torch.randn(cfg["batch"], 3, *args.size, generator=g).to(device)
    if cfg["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.num_classes, (cfg["batch"],), generator=g).to(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step(x, y)
    sync(device)
    warm_s = time.perf_counter() - t0
    rates = []
    for _ in range(args.windows):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(x, y)
        sync(device)
        rates.append(cfg["batch"] * args.steps / (time.perf_counter() - t0))
    mem = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    out = dict(cfg)
    out.update({"img/s": median(rates), "min img/s": min(rates), "max img/s": max(rates),
                "warmup s": warm_s, "peak GiB": mem})
    del model, opt, fwd, step
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def loader_wait(cfg: Dict, args, device: str) -> Dict:
    """Training through a DataLoader: images/s and the share of time blocked waiting for batches."""
    model = build(cfg["model"], device, cfg["channels_last"], args.backbone, args.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    step = make_step(model, opt, device, cfg["precision"])
    n = max(cfg["batch"] * (args.warmup + args.loader_steps), 2 * cfg["batch"])
    ds = InMemoryImages(min(n, args.dataset_size), args.size, args.num_classes)
    pin = device.startswith("cuda")
    loader = torch.utils.data.DataLoader(
        ds, batch_size=cfg["batch"], shuffle=True, drop_last=True, num_workers=args.workers, pin_memory=pin,
        persistent_workers=args.workers > 0, prefetch_factor=4 if args.workers > 0 else None)

    def forever():  # not itertools.cycle: that would replay cached batches instead of loading new ones
        while True:
            yield from loader

    batches = forever()

    def fetch():
        x, y = next(batches)
        x = x.to(device, non_blocking=True)
        if cfg["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(device, non_blocking=True)

    for _ in range(args.warmup):
        step(*fetch())
    sync(device)
    waits, total0 = [], time.perf_counter()
    for _ in range(args.loader_steps):
        t0 = time.perf_counter()
        x, y = fetch()
        waits.append(time.perf_counter() - t0)
        step(x, y)
        sync(device)  # the device is idle from here until the next batch arrives: that is the wait

    total = time.perf_counter() - total0
    out = dict(cfg)
    out.update({"workers": args.workers, "img/s with loader": cfg["batch"] * args.loader_steps / total,
                "wait ms/step": 1e3 * median(waits), "wait share": sum(waits) / total})
    del loader, batches
    return out


def write_market_folder(root: Path, n_train: int, size, num_ids: int = 64, seed: int = 0) -> Path:
    """Random smooth JPEGs in the Market-1501 layout: ``n_train`` training images of ``num_ids``
    identities over 6 cameras, 16 query images (camera 1) and 32 gallery images (camera 2)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size

    def write(folder: Path, i: int, pid: int, cam: int) -> None:
        small = rng.integers(0, 256, (max(h // 8, 1), max(w // 8, 1), 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.BILINEAR).save(folder / f"{pid:04d}_c{cam}s1_{i:06d}_00.jpg")

    for name, count in (("bounding_box_train", n_train), ("query", 16), ("bounding_box_test", 32)):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            if name == "bounding_box_train":
                write(folder, i, 1 + i % num_ids, 1 + (i // num_ids) % 6)
            else:
                write(folder, i, 1 + i % 16, 1 if name == "query" else 2)
    return root


def engine_throughput(cfg: Dict, args, device: str, root: Path) -> Dict:
    """``ianet_viz.train.train`` on the folder ``root``: images/s and loader wait of its second epoch."""
    from ianet_viz.train import TrainConfig, train

    run = train(TrainConfig(
        dataset="market1501", data_root=str(root), pretrained=None, backbone=args.backbone,
        height=args.size[0], width=args.size[1], **MODELS[cfg["model"]], epochs=2, batch_size=cfg["batch"],
        max_steps_per_epoch=args.engine_steps, num_workers=args.workers, device=device,
        amp="bf16" if cfg["precision"] == "bf16" else "none", channels_last=cfg["channels_last"],
        progress=False, output=str(root / "run"), overwrite=True, eval_batch_size=64))
    last = run.history[-1]
    out = dict(cfg)
    out.update({"workers": args.workers, "steps": last["steps"], "engine img/s": last["images_per_s"],
                "loader wait s": last["data_wait"], "wait share": last["data_wait"] / last["time"]})
    return out


def configs(args) -> List[Dict]:
    comp = {"off": (False,), "on": (True,), "both": (False, True)}[args.compile]
    fmts = {"channels_last": (True,), "nchw": (False,), "both": (True, False)}[args.memory_format]
    return [dict(model=m, batch=b, precision=p, channels_last=cl, compile=c)
            for c in comp for p in args.precisions for b in args.batches for cl in fmts for m in args.models]


def run(args, device: str) -> Dict:
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    rows = []
    for cfg in configs(args):
        try:
            rows.append(throughput(cfg, args, device))
        except Exception as err:  # e.g. torch.compile without a compiler; report and go on
            r = dict(cfg)
            r["img/s"] = float("nan")
            r["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
            rows.append(r)
        print(_row_text(rows[-1]), flush=True)
    # IANet / baseline ratio for every matching configuration
    for r in rows:
        if r["model"] != "baseline":
            base = [b for b in rows if b["model"] == "baseline" and all(b[k] == r[k] for k in
                                                                          ("batch", "precision", "channels_last", "compile"))]
            if base and base[0]["img/s"] == base[0]["img/s"]:
                r["vs baseline"] = r["img/s"] / base[0]["img/s"]
    loader_rows = []
    if args.workers >= 0 and args.loader_steps > 0:
        for m in args.models:
            for b in args.batches:
                cfg = dict(model=m, batch=b, precision="bf16" if "bf16" in args.precisions else args.precisions[0],
                           channels_last=True, compile=False)
                loader_rows.append(loader_wait(cfg, args, device))
    engine_rows = []
    if args.workers >= 0 and args.engine_steps > 0:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        root = Path(tempfile.mkdtemp(prefix="ianet-gpu-throughput-", dir=shm))
        try:
            write_market_folder(root, max(args.batches) * args.engine_steps, args.size)
            for m in args.models:
                for b in args.batches:
                    cfg = dict(model=m, batch=b, precision="bf16" if "bf16" in args.precisions else args.precisions[0],
                               channels_last=args.memory_format != "nchw", compile=False)
                    engine_rows.append(engine_throughput(cfg, args, device, root))
                    print(f"engine.train {m:<9} batch {b:<4} {engine_rows[-1]['engine img/s']:8.1f} img/s, "
                          f"loader wait {engine_rows[-1]['loader wait s']:.2f} s", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return {"rows": rows, "loader": loader_rows, "engine": engine_rows}


def _row_text(r: Dict) -> str:
    return (f"{r['model']:<9} batch {r['batch']:<4} {r['precision']:<5} "
            f"{'channels_last' if r['channels_last'] else 'nchw':<13} {'compiled' if r['compile'] else 'eager':<8} "
            f"{r['img/s']:8.1f} img/s" + (f"  ({r['error']})" if "error" in r else ""))


def tables(out: Dict) -> str:
    cols = ["model", "batch", "precision", "channels_last", "compile", "img/s", "min img/s", "max img/s",
            "vs baseline", "peak GiB", "warmup s"]
    lines = ["training throughput on a GPU-resident batch (median of windows):",
             format_table(out["rows"], [c for c in cols if any(c in r for r in out["rows"])])]
    if out["loader"]:
        lines += ["", "with a DataLoader (in-memory uint8 dataset, workers do float conversion, normalise, flip):",
                  format_table(out["loader"], ["model", "batch", "precision", "workers", "img/s with loader",
                                               "wait ms/step", "wait share"])]
    if out.get("engine"):
        lines += ["", "ianet_viz.train.train itself (JPEGs in memory, decoded and augmented in the workers; "
                      "second epoch):",
                  format_table(out["engine"], ["model", "batch", "precision", "channels_last", "workers", "steps",
                                               "engine img/s", "loader wait s", "wait share"])]
    return "\n".join(lines)


def parser():
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (tests only)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batches", nargs="+", type=int, default=None, help="default 64 128")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--compile", default="both", choices=["off", "on", "both"])
    p.add_argument("--memory-format", default="channels_last", choices=["channels_last", "nchw", "both"])
    p.add_argument("--backbone", default=None, help="default resnet50 (resnet18 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="steps per timed window (default 10)")
    p.add_argument("--windows", type=int, default=None, help="timed windows, median taken (default 5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; compile happens here)")
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers for the wait measurement")
    p.add_argument("--loader-steps", type=int, default=None, help="steps through the DataLoader (default 30)")
    p.add_argument("--dataset-size", type=int, default=4096, help="images held in memory for the loader run")
    p.add_argument("--engine-steps", type=int, default=None,
                   help="steps per epoch of the engine.train run (default 30; 0 skips it)")
    p.add_argument("--num-classes", type=int, default=751)
    p.add_argument("--section", default="gpu_throughput",
                   help="RESULTS.md section name (e.g. gpu_throughput_compiled when runs are split)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parser().parse_args(argv)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(SKIP_MESSAGE)
        return {"skipped": True, "reason": SKIP_MESSAGE}
    q = args.quick
    args.batches = args.batches or ([4] if q else [64, 128])
    args.backbone = args.backbone or ("resnet18" if q else "resnet50")
    args.size = (64, 32) if q else (256, 128)
    args.steps = args.steps or (1 if q else 10)
    args.windows = args.windows or (2 if q else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 5)
    args.loader_steps = args.loader_steps if args.loader_steps is not None else (2 if q else 30)
    args.engine_steps = args.engine_steps if args.engine_steps is not None else (2 if q else 30)
    if q:
        args.workers = min(args.workers, 1)
        args.dataset_size = min(args.dataset_size, 64)
    print(describe_device(device))
    out = run(args, device)
    text = tables(out)
    print(text)
    if args.write:
        update_results(args.section, section(
            "gpu_throughput: training images/s at 256x128", command_line("benchmarks.gpu_throughput", argv),
            describe_device(device), "```\n" + text + "\n```"))
    out["skipped"] = False
    return out


if __name__ == "__main__":
    main()
