"""Export a trained model for deployment: TorchScript (``.pt``) or ONNX (``.onnx``).

The exported model is the eval-mode network: images ``[B, 3, H, W]`` (ImageNet-normalised, as
:func:`ianet_viz.train.build_transforms` makes them) in, embeddings ``[B, D]`` out; compare them with
the cosine distance, as the evaluation does. It runs without this package:
``torch.jit.load(FILE)(images)``, or ONNX Runtime.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["export_model", "check_export_path", "EXPORT_FORMATS"]

EXPORT_FORMATS = (".pt", ".onnx")


def check_export_path(path, overwrite: bool = False) -> Path:
    """``path`` if it names a format this machine can write and no file is there (``overwrite`` allows
    one), else a clear error (called before training, so that no file is lost after it)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"--export {path}: the file exists (a checkpoint or an earlier export?) and is kept; "
                              "pass another name, or --overwrite to replace it")
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise ValueError(f"--export {path}: the name must end in .pt (TorchScript) or .onnx (ONNX)")
    if path.suffix.lower() == ".onnx":
        try:
            import onnx  # noqa: F401  (torch.onnx writes through it)
        except ImportError as err:
            raise RuntimeError(f"--export {path}: ONNX export needs the onnx package (pip install onnx); "
                               "or export TorchScript with a .pt name") from err
    return path


def export_model(model: nn.Module, path, height: int = 256, width: int = 128, overwrite: bool = False) -> Path:
    """Write ``model`` (a copy, in eval mode, on the CPU) to ``path``: TorchScript by ``torch.jit.trace``
    for ``.pt``, ONNX for ``.onnx`` (needs the ``onnx`` package). The batch size stays free. An existing
    file is replaced only with ``overwrite``, and atomically: a temporary file, then a rename, so an
    interrupted export leaves the old file whole."""
    path = check_export_path(path, overwrite)
    suffix = path.suffix.lower()
    net = copy.deepcopy(model).cpu().eval()  # the caller's model stays where and as it is
    example = torch.randn(2, 3, height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        _write(net, example, tmp, suffix, height, width)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write(net: nn.Module, example: torch.Tensor, path: Path, suffix: str, height: int, width: int) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns about every shape check it turns into a constant: all are about the fixed
        # input size; the comparison below checks the result instead
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        if suffix == ".pt":
            # tracing records the operations one forward pass runs; IANet has no branch on the data
            traced = torch.jit.trace(net, example, check_trace=False)
            check = torch.randn(3, 3, height, width)  # another batch size than the traced one
            if not torch.allclose(traced(check), net(check), atol=1e-4, rtol=1e-4):
                raise RuntimeError(f"--export {path}: the traced model computes other embeddings than the "
                                   "model; export to ONNX (.onnx) instead")
            traced.save(str(path))
        else:
            torch.onnx.export(net, (example,), str(path), input_names=["images"], output_names=["embeddings"],
                              dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}},
                              opset_version=17, dynamo=False)
