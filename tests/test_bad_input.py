"""The command line's bad-input suite (issue 23): every mistake of the instructor's table, plus a full disk and
an interrupt. Each case checks the exit code, that stderr is one line (argument errors: one line and a
hint), and that no file that existed before changed (sha256 of every file under the workspace)."""
import errno
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from ianet_viz.synthetic import generate_dataset
from ianet_viz.train.__main__ import main as cli_main

IDS, IMAGES, H, W = 8, 6, 64, 32
#: what a resumed run writes as it goes, before its checkpoint: --resume rewinds the logs to the checkpoint
PROGRESS = ("log.jsonl", "steps.jsonl", "metrics.json", "config.yaml")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A data folder and one evaluated run (2 epochs x 1 step, --eval-every 1: best.pt exists)."""
    base = tmp_path_factory.mktemp("bad-input")
    data = generate_dataset(base / "data", IDS, IMAGES, seed=0, height=H, width=W)
    run = base / "run"
    assert cli_main(_train_args(data, run) + ["--eval-every", "1"]) == 0
    return base, data, run


def _train_args(data, out, *extra):
    return ["--dataset", "synthetic", "--data-root", str(data), "--synthetic-identities", str(IDS),
            "--synthetic-images", str(IMAGES), "--backbone", "resnet18", "--height", str(H), "--width", str(W),
            "--epochs", "2", "--batch-size", "8", "--num-workers", "0", "--ia-stages", "3", "--no-progress",
            "--max-steps-per-epoch", "1", "--eval-batch-size", "64", "--milestones", "1", "--warmup-epochs", "0",
            "--output", str(out), *extra]


def _hashes(root: Path):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _attempt(argv, capsys):
    """(exit code, stderr lines) of one command, argparse's exits included."""
    try:
        rc = cli_main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err.strip().splitlines()


def _refused(argv, capsys, root, *words, rc=2, lines=1, progress=()):
    """The command fails with ``rc``, says ``words`` in ``lines`` lines, and changes no file under ``root``
    but the ``progress`` files (the logs a resumed run appends to before it fails: --resume rewinds them)."""
    before = {k: v for k, v in _hashes(root).items() if Path(k).name not in progress}
    got, err = _attempt(argv, capsys)
    assert got == rc, err
    assert len(err) == lines and err[0].startswith("error: "), err
    assert all(w in err[0] for w in words), err
    assert "Traceback" not in "\n".join(err)
    assert {k: v for k, v in _hashes(root).items() if k in before} == before
    return err


def test_export_onto_an_existing_file(workspace, capsys):
    base, data, run = workspace
    _refused(["--eval-only", str(run), "--no-progress", "--export", str(run / "best.pt")], capsys, base,
             "the file exists", "--overwrite")


def test_a_new_run_into_a_folder_holding_a_run_without_its_checkpoint(workspace, tmp_path, capsys):
    base, data, run = workspace
    old = tmp_path / "old"
    old.mkdir()
    for name in ("best.pt", "metrics.json", "log.jsonl"):  # checkpoint.pt deleted to save space
        shutil.copy(run / name, old / name)
    _refused(_train_args(data, old), capsys, tmp_path, "already holds a run", "--overwrite")


@pytest.mark.parametrize("text", ["lr: 3e-4\nweight_decay: 5e-4\n", 'epochs: "2"\nia_stages: none\n',
                                  "relation: location\n"])
def test_yaml_values_typed_as_the_flags(workspace, tmp_path, capsys, text):
    from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(text)
    argv = ["--config", str(cfg_file)]
    cfg = config_from_args(build_parser().parse_args(argv), given_flags(argv)).resolved()
    assert cfg.lr == 3e-4 and cfg.weight_decay == 5e-4 if "lr" in text else True
    assert (cfg.epochs, cfg.ia_stages) == (2, ()) if "epochs" in text else True
    assert (cfg.use_appearance, cfg.use_location) == (False, True) if "relation" in text else True


def test_yaml_value_the_flag_refuses_and_unknown_keys(workspace, tmp_path, capsys):
    base, data, run = workspace
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: two\n")
    _refused(["--config", str(bad), "--output", str(tmp_path / "x")], capsys, tmp_path, "epochs", "--epochs",
             lines=2)
    bad.write_text("epocs: 2\n")
    _refused(["--config", str(bad), "--output", str(tmp_path / "x")], capsys, tmp_path, "epocs", lines=2)


@pytest.mark.parametrize("flag", ["--resume", "--init-from"])
def test_a_corrupt_checkpoint_to_resume_or_init_from(workspace, tmp_path, capsys, flag):
    base, data, run = workspace
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    ckpt = copy / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:4096])
    if flag == "--resume":
        argv = _train_args(data, copy, "--resume")
    else:
        argv = _train_args(data, tmp_path / "new", "--init-from", str(ckpt))
    _refused(argv, capsys, tmp_path, "damaged")


def test_an_exported_or_corrupt_file_given_as_a_model(workspace, tmp_path, capsys, monkeypatch):
    base, data, run = workspace
    script = tmp_path / "model.pt"
    assert cli_main(["--eval-only", str(run), "--no-progress", "--export", str(script)]) == 0
    capsys.readouterr()
    _refused(["--eval-only", str(script), "--no-progress"], capsys, tmp_path, "TorchScript export")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    _refused(["--eval-only", str(junk), "--no-progress"], capsys, tmp_path, "junk.pt")


def test_argument_errors_are_one_line_and_a_hint(capsys, tmp_path):
    err = _refused(["--epochs", "two"], capsys, tmp_path, "--epochs", lines=2)
    assert "--help" in err[1]
    _refused(["--no-such-flag"], capsys, tmp_path, "--no-such-flag", lines=2)
    _refused(["--val-ids", "-3", "--output", str(tmp_path / "x")], capsys, tmp_path, "val_ids", lines=2)


def test_rerank_on_a_small_set_works_with_a_note(workspace, capsys):
    base, data, run = workspace
    before = {k: v for k, v in _hashes(run).items() if k != "eval.json"}
    rc = cli_main(["--eval-only", str(run), "--rerank", "--no-progress", "--rerank-k1", "100"])
    out = capsys.readouterr()
    # it rewrites its own result, eval.json (atomically), and no file of the run
    assert rc == 0 and {k: v for k, v in _hashes(run).items() if k != "eval.json"} == before
    note = [line for line in (out.out + out.err).splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "k1=23" in note[0] and "Traceback" not in out.err, note


def test_sync_bn_in_one_process_is_said_once(workspace, tmp_path, capsys):
    base, data, run = workspace
    with pytest.warns(UserWarning, match="--sync-bn has no effect in a single process") as rec:
        rc, err = _attempt(_train_args(data, tmp_path / "sb", "--sync-bn", "--epochs", "1"), capsys)
    assert rc == 0 and sum("--sync-bn" in str(w.message) for w in rec) == 1


def test_a_full_disk_mid_checkpoint_keeps_the_last_one(workspace, tmp_path, capsys, monkeypatch):
    """ENOSPC while the resumed run writes its checkpoint: one line, exit 2, the old checkpoint whole."""
    from ianet_viz.train import checkpoint

    base, data, run = workspace
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    real = torch.save

    def full(obj, f, *a, **k):
        real(obj, f, *a, **k)  # bytes went out, then the disk filled up before the rename
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    err = _refused(_train_args(data, copy, "--resume", "--epochs", "3"), capsys, tmp_path,
                   "No space left on device", "free some space", "--resume", progress=PROGRESS)
    assert not list(copy.glob(".*.tmp"))  # no half-written temporary file left behind


def test_an_interrupt_mid_epoch_keeps_the_run_and_resumes(workspace, tmp_path, capsys, monkeypatch):
    """Ctrl-C during training: one line, exit 130, every file as before; --resume then continues."""
    from ianet_viz.train import engine

    base, data, run = workspace
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    real = engine.save_checkpoint

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", interrupted)
    _refused(_train_args(data, copy, "--resume", "--epochs", "3"), capsys, tmp_path, "interrupted", "--resume",
             rc=130, progress=PROGRESS)
    monkeypatch.setattr(engine, "save_checkpoint", real)
    rc, err = _attempt(_train_args(data, copy, "--resume", "--epochs", "3"), capsys)
    assert rc == 0
    from ianet_viz.train.checkpoint import load_checkpoint
    from ianet_viz.train.logs import read_log

    assert load_checkpoint(copy)["epoch"] == 3 and [r["epoch"] for r in read_log(copy)] == [1, 2, 3]


def test_a_checkpoint_of_another_model_to_init_from(workspace, tmp_path, capsys):
    base, data, run = workspace
    argv = _train_args(data, tmp_path / "r50", "--init-from", str(run)) + ["--backbone", "resnet50"]
    _refused(argv, capsys, base, "--init-from", "shapes differ", "same backbone")
