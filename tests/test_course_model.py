"""One switch from the demo model to any run (issue 19): ``ianet_viz.course.course_model`` and notebook 04 on it."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ianet_viz.course import notebook_model as active
from ianet_viz.course.notebook_model import course_model, pick_block, read_metrics, retrieval_subset
from ianet_viz.train.runs import saved_metrics
from ianet_viz.modules import SIA
from ianet_viz.train.checkpoint import FORMAT

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_env_model(monkeypatch):
    monkeypatch.delenv(active.ENV, raising=False)


@pytest.fixture(scope="module")
def dot_run(tmp_path_factory):
    """A tiny run with the paper's literal relation (dot product, product fusion, gates at 0): a run
    folder with checkpoint.pt (no ``metrics`` entry) and metrics.json beside it."""
    from ianet_viz.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("dot")
    cfg = TrainConfig(dataset="synthetic", data_root=str(tmp / "syn"), synthetic_identities=4, synthetic_images=4,
                      backbone="resnet18", height=64, width=32, epochs=1, max_steps_per_epoch=1, batch_size=8,
                      num_workers=0, pretrained=None, output=str(tmp / "run"), progress=False, device="cpu")
    train(cfg, overwrite=True)
    return tmp / "run"


def test_scale_text_reads_every_relation():
    """logit_scale() is None for the paper's dot relation: scale_text() prints it without an AttributeError."""
    assert SIA(8).scale_text() == "scale 1/(sqrt(C) K^2)"
    assert SIA(8, sia_scale=1.0).scale_text() == "scale 1"
    assert SIA(8, sia_relation="cosine").scale_text() == "temperature 10"
    learned = SIA(8, sia_relation="cosine", sia_learn_scale=True, sia_scale=7.0)
    assert learned.scale_text() == "temperature 7.00 (learned)"


def _fake_state(path, **extra):
    torch.save({"format": FORMAT, "config": {}, **extra}, path)
    return path


def test_read_metrics_of_a_folder_a_checkpoint_and_a_weights_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    ckpt = _fake_state(run / "checkpoint.pt")           # a run's checkpoint has no "metrics" entry
    assert read_metrics(run) == {} and read_metrics(ckpt) == {} and read_metrics(run / "not-here") == {}
    (run / "metrics.json").write_text(json.dumps({"mAP": 0.5, "rank1": 0.6, "cmc": [0.6], "config": {}}))
    assert read_metrics(run) == read_metrics(ckpt) == {"mAP": 0.5, "rank1": 0.6}
    assert saved_metrics(ckpt)["cmc"] == [0.6]  # load_run's metrics: the same file, the whole record
    weights = _fake_state(tmp_path / "w.pt", metrics={"mAP": 0.25, "rank1": 0.5})
    assert read_metrics(weights) == {"mAP": 0.25, "rank1": 0.5}
    loose = _fake_state(tmp_path / "loose.pt")           # a metrics.json beside a loose file is not its own
    (tmp_path / "metrics.json").write_text(json.dumps({"mAP": 0.9, "rank1": 0.9}))
    assert read_metrics(loose) == {} and read_metrics(tmp_path / "missing-run") == {}  # not the parent's file


def test_a_missing_or_wrong_model_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.setenv(active.ENV, str(tmp_path / "no-such-run"))
    with pytest.raises(FileNotFoundError, match=r"IANET_MODEL=.*no-such-run.*no such file or folder.*'demo'.*'paper'"):
        course_model()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"without checkpoint\.pt.*--output"):
        course_model(str(tmp_path / "empty"))
    from ianet_viz.course import demo

    monkeypatch.setattr(demo, "PAPER_WEIGHTS", tmp_path / "paper.pt")  # not trained yet
    with pytest.raises(FileNotFoundError, match=r"paper-literal model's weights are not here.*IANET_MODEL=demo"):
        course_model("paper")


def test_pick_block_is_the_map_closest_to_the_papers_16x8():
    assert pick_block({"stage2": (16, 8), "stage3": (8, 4)}) == "stage2"      # demo model, 128 x 64
    assert pick_block({"stage2": (32, 16), "stage3": (16, 8)}) == "stage3"    # the paper's 256 x 128
    assert pick_block({"stage3": (8, 4)}) == "stage3"
    assert pick_block({"stage2": (32, 16), "stage3": (8, 4)}) == "stage3"     # a tie goes to the later stage


def test_retrieval_subset_keeps_whole_identities_within_the_caps():
    query = [(f"q{p}_{i}", p, 0) for p in range(50) for i in range(2)]
    gallery = [(f"g{p}_{i}", p, 1) for p in range(80) for i in range(5)]
    assert retrieval_subset(query, gallery, 1000, 1000) == (query, gallery)  # within the caps: unchanged
    q, g = retrieval_subset(query, gallery, max_query=20, max_gallery=100)
    assert len(q) <= 20 and len(g) <= 100
    chosen = {p for _, p, _ in q}
    assert len(chosen) == 10 and all(sum(1 for x in q if x[1] == p) == 2 for p in chosen)
    assert all(sum(1 for x in g if x[1] == p) == 5 for p in chosen)    # every gallery image of a chosen identity
    assert len({p for _, p, _ in g} - chosen) > 5                       # and distractors spread over the others
    assert g == sorted(g, key=gallery.index)                            # in the gallery's order


def test_default_is_the_shipped_demo_model():
    cm = course_model()
    assert cm.name == "demo model" and not cm.model.training
    assert cm.size == (128, 64) and cm.block == "stage2" and cm.shapes == {"stage2": (16, 8), "stage3": (8, 4)}
    assert cm.pixels((0.34375, 0.5625)) == (44.0, 36.0)
    assert 0 < cm.metrics["mAP"] <= 1 and cm.config.pretrained is None
    text = cm.describe()
    assert "IANet-R18 128x64, demo model" in text and "rank-1" in text
    assert "stage2: dot, scale 1/(sqrt(C) K^2), prod of K=1, sigma (5, 10)" in text  # K = 1, sigma follows the map
    with pytest.raises(ValueError, match="fractions"):
        cm.pixels((44, 36))


def test_a_runs_checkpoint_and_its_exported_weights(dot_run, tmp_path, monkeypatch, capsys):
    """The two failures of the issue: a run's checkpoint.pt has no 'metrics' key (KeyError), and the
    paper's dot relation has no learned temperature (AttributeError). Both load, print and measure."""
    from ianet_viz.course import demo
    from ianet_viz.course.demo import export_weights

    from ianet_viz.train import load_checkpoint

    assert "metrics" not in load_checkpoint(dot_run)  # what 04 c6 used to read: a KeyError
    for spec in (dot_run, dot_run / "checkpoint.pt"):
        cm = course_model(str(spec))
        assert cm.size == (64, 32) and cm.metrics.get("mAP") is not None
        assert "stage2: dot, scale 1/(sqrt(C) K^2), prod of K=1,2,3" in cm.describe()
    random = cm.random_init(seed=0)
    assert type(random) is type(cm.model) and not random.training
    assert not torch.equal(next(random.parameters()), next(cm.model.parameters()))

    export_weights(dot_run, tmp_path / "paper.pt")          # a stand-in for the shipped paper-literal model
    monkeypatch.setattr(demo, "PAPER_WEIGHTS", tmp_path / "paper.pt")
    monkeypatch.setenv(active.ENV, "paper")
    cm = course_model()
    assert cm.name == "paper-literal model" and cm.metrics.get("mAP") is not None
    assert "dot, scale 1/(sqrt(C) K^2)" in cm.relation_text()

    # the run's own synthetic data, with masks, for retrieval and the part measurements
    run = course_model(str(dot_run))
    assert run.data_root() == dot_run.parent / "syn"
    x, masks = run.held_out_people(n=4)
    assert x.shape == (4, 3, 64, 32) and masks.shape == (4, 64, 32)
    query, gallery = run.retrieval_set()
    assert query and gallery and capsys.readouterr().out == ""


def test_a_missing_dataset_falls_back_with_a_note(dot_run, monkeypatch, capsys):
    cm = course_model(str(dot_run))
    cm = replace(cm, config=replace(cm.config, dataset="market1501", data_root=str(dot_run / "absent")))
    assert cm.data_root() is None
    ds = cm.dataset()
    assert "note:" in capsys.readouterr().out and len(ds.query) > 0  # the bundled real crops
    seen = {}

    def fake_load(cfg):  # what would generate 1,200 synthetic people at the model's size
        seen["cfg"] = cfg
        return type("Synthetic", (), {"root": dot_run.parent / "syn"})()

    import ianet_viz.train

    monkeypatch.setattr(ianet_viz.train, "load_dataset", fake_load)  # mechanism.synthetic_people_root's loader
    assert cm.people_root() == dot_run.parent / "syn"
    assert "no part masks" in capsys.readouterr().out
    assert (seen["cfg"].dataset, seen["cfg"].height, seen["cfg"].width) == ("synthetic", 64, 32)


@pytest.mark.slow
def test_notebooks_04_to_06_run_on_an_r50_256x128_run_copied_to_another_machine(tmp_path):
    """Notebooks 04-06, smoke mode, pointed by IANET_MODEL at a one-step ResNet-50 run at 256 x 128 on a tiny
    Market-1501-layout dataset (the synthetic generator's output read as market1501), after the run and its
    dataset moved to another layout, as from a GPU box to a laptop: the run's recorded --data-root is gone,
    and the one documented setting, IANET_DATA_DIR, finds the dataset (README, "Runs that travel")."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    from ianet_viz.train import TrainConfig, train

    data = tmp_path / "market"
    subprocess.run([sys.executable, "-m", "ianet_viz.synthetic", "--output", str(data), "--identities", "8",
                    "--images-per-identity", "4", "--height", "256", "--width", "128"], check=True, cwd=tmp_path,
                   capture_output=True)
    run = tmp_path / "runs" / "market-r50"
    train(TrainConfig(dataset="market1501", data_root=str(data), backbone="resnet50", height=256, width=128, epochs=1,
                      max_steps_per_epoch=1, batch_size=8, num_workers=0, pretrained=None, output=str(run),
                      progress=False, device="cpu"), overwrite=True)

    laptop = tmp_path / "laptop"  # another machine: the run in its own folder, the dataset under IANET_DATA_DIR
    (laptop / "data").mkdir(parents=True)
    shutil.move(str(data), str(laptop / "data" / "market1501"))
    shutil.move(str(run), str(laptop / "market-r50"))
    run = laptop / "market-r50"
    env = {"IANET_MODEL": str(run), "IANET_SMOKE": "1", "IANET_DATA_DIR": str(laptop / "data"),
           "IANET_RUNS_DIR": str(tmp_path / "runs"), "OMP_NUM_THREADS": "2"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them
    texts = {}
    try:
        for name in ("04_receptive_fields", "05_sigma_sensitivity", "06_ablations"):
            nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
            texts[name] = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                                    for o in c.get("outputs", []) if o.get("output_type") == "stream")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for name in ("05_sigma_sensitivity", "06_ablations"):
        assert "run market-r50" in texts[name], name
    text = texts["04_receptive_fields"]
    assert "IANet-R50 256x128, run market-r50" in text
    assert "stage2: dot, scale 1/(sqrt(C) K^2), prod of K=1,2,3" in text
    assert "block looked at: stage3 (16x8 map" in text
    # the paper-literal model is the comparison when its weights ship, else a note says it is missing
    assert "compared with:\nIANet-R18 128x64, paper-literal model" in text or "paper-literal model's weights are not here" in text
    notes = [line for line in text.splitlines() if line.startswith("note:") and "paper-literal" not in line]
    assert not notes  # the run's own dataset (it has masks) served retrieval and the part measurements
    # nothing generated for the run (the comparison's own synthetic people, at 128x64, may be)
    assert not list((tmp_path / "data").glob("**/*256x128*"))


def test_an_exported_model_in_ianet_model_says_what_it_is(tmp_path):
    """IANET_MODEL pointing at a TorchScript export: one message naming the file's kind, not torch's advice."""
    script = torch.jit.script(torch.nn.Linear(2, 2))
    script.save(str(tmp_path / "model.pt"))
    with pytest.raises(ValueError, match=r"TorchScript export.*run folder") as err:
        course_model(str(tmp_path / "model.pt"))
    assert "weights_only" not in str(err.value)


def test_the_shipped_models_say_where_their_backbone_came_from():
    """describe() names the pretrained backbone the shipped models were fine-tuned from (it once said
    'random initialisation', reading the config after its start had been cleared)."""
    from ianet_viz.course import course_model

    for name in ("demo", "paper"):
        cm = course_model(name)
        assert "pretrained on synthetic identities" in cm.start_text() and "random" not in cm.start_text()
        assert cm.config.pretrained is None  # the weights are in the model; nothing is loaded twice
