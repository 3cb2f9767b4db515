"""ianet_viz.course: the demo model and the sweeps the notebooks share."""
import math

import pytest

from ianet_viz.course import SWEEP_SCALES, read_results, summarise, sweep_config


def test_summarise_mean_std_in_percent():
    rows = [{"config": "a", "seed": 0, "rank1": 0.5, "mAP": 0.2}, {"config": "a", "seed": 1, "rank1": 0.7, "mAP": 0.4},
            {"config": "b", "seed": 0, "rank1": "0.1", "mAP": "0.1"}]
    a, b = summarise(rows)
    assert (a["config"], a["n"], b["n"]) == ("a", 2, 1)
    assert a["rank1_mean"] == pytest.approx(60.0) and a["rank1_std"] == pytest.approx(math.sqrt(200.0))
    assert b["mAP_mean"] == pytest.approx(10.0) and b["mAP_std"] == 0.0


def test_sweep_config_scales():
    for scale in SWEEP_SCALES:
        cfg = sweep_config(scale, sigma=(2.0, 4.0), output="runs/x").resolved()
        assert cfg.dataset == "synthetic" and cfg.sigma == (2.0, 4.0) and cfg.pretrained is None
        assert cfg.device == "auto" and sweep_config(scale, device="cuda").device == "cuda"  # no forced CPU (issue 19)
        assert cfg.synthetic_identities == SWEEP_SCALES[scale]["synthetic_identities"]
    with pytest.raises(ValueError, match="scale"):
        sweep_config("huge")


def test_read_results_missing_file_is_none():
    assert read_results("no-such-results-file.csv") is None


def test_run_sweep_resume_reads_back_finished_and_continues_interrupted(monkeypatch, tmp_path):
    """A sweep of hours loses nothing: finished runs are read back, a stopped run continues."""
    import ianet_viz.course.sweep as nu
    import ianet_viz.train as tr

    monkeypatch.setattr(nu, "RUNS_DIR", str(tmp_path))
    tiny = dict(synthetic_identities=8, synthetic_images=4, epochs=2, max_steps_per_epoch=2, batch_size=8,
                data_root=str(tmp_path / "data"))
    fresh = nu.run_sweep({"a": tiny}, seeds=(0,), verbose=False)[0]
    assert fresh["wall_s"] is not None

    calls = []
    real_train = tr.train
    monkeypatch.setattr(tr, "train", lambda cfg, **kw: calls.append(kw) or real_train(cfg, **kw))
    again = nu.run_sweep({"a": tiny}, seeds=(0,), verbose=False, resume=True)[0]
    assert calls == [] and again["wall_s"] is None  # read back, not retrained
    assert again["mAP"] == fresh["mAP"] and again["rank1"] == fresh["rank1"]

    # interrupt a run after its first epoch, as a closed laptop would; the sweep then continues it
    cfg = nu.sweep_config("smoke", seed=0, output=str(tmp_path / "notebooks" / "sweep" / "a-seed0"), **tiny)
    real_train(cfg, overwrite=True, callback=lambda record: False)
    assert nu._finished_run(cfg) is None
    resumed = nu.run_sweep({"a": tiny}, seeds=(0,), verbose=False, resume=True)[0]
    assert calls == [{"resume": True, "overwrite": False}]
    assert resumed["mAP"] == pytest.approx(fresh["mAP"]) and resumed["rank1"] == pytest.approx(fresh["rank1"])

    # another configuration in the same folder starts over instead of failing
    other = dict(tiny, ks=(1,))
    nu.run_sweep({"a": other}, seeds=(0,), verbose=False, resume=True)
    assert calls[-1] == {"overwrite": True}


# ----------------------------------------------------------------------------- the shipped demo model

def test_shipped_demo_model_loads_offline_and_its_blocks_work(tmp_path):
    """The weights shipped in the package load without training, and the mechanism is on: every IA
    branch adds >= 5 % of its input (eq. 9's gate is open) and SIA's fields at stage 2 do not
    collapse onto the query cell (self-weight <= 0.35), on synthetic people it never saw."""
    import torch

    from ianet_viz.course import demo_model, mechanism_report
    from ianet_viz.course.demo import WEIGHTS
    from ianet_viz.course.mechanism import held_out_people
    from ianet_viz.synthetic import generate_dataset

    torch.set_num_threads(1)
    model, source = demo_model(progress=False)
    assert source == WEIGHTS and not model.training
    root = generate_dataset(tmp_path / "people", identities=8, images_per_identity=4, seed=123, height=128, width=64)
    x, masks = held_out_people(root, (128, 64), n=16)
    report = mechanism_report(model, x, masks)
    ratios = [row[k] for row in report.values() for k in ("sia_ratio", "cia_ratio")]
    assert len(ratios) == 4 and min(ratios) >= 0.05, report
    assert report["stage2"]["self_S"] <= 0.35, report


def test_export_writes_weights_that_load_and_a_checksum_beside_them(tmp_path):
    """export_weights (what --export ends with) on a trained run: fp16 tensors, no local paths, and
    load_shipped accepts the file against the checksum written beside it."""
    import torch

    from ianet_viz.course import demo_model
    from ianet_viz.course.demo import export_weights, load_shipped, sha256

    kw = dict(smoke=True, progress=False, output=str(tmp_path / "run"), height=64, width=32, synthetic_identities=4,
              synthetic_images=4, epochs=1, max_steps_per_epoch=1, batch_size=8, data_root=str(tmp_path / "syn"))
    model, run = demo_model(**kw)
    digest = export_weights(run, tmp_path / "w.pt")
    assert (tmp_path / "w.pt.sha256").read_text().split() == [digest, "w.pt"] and sha256(tmp_path / "w.pt") == digest
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    assert saved["config"]["data_root"] is None and all(
        v.dtype == torch.float16 for v in saved["model"].values() if v.is_floating_point())
    again = load_shipped(path=tmp_path / "w.pt")
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-2, atol=1e-3), k  # fp16 rounding only


def test_damaged_or_missing_demo_weights_say_how_to_get_them_back(tmp_path):
    from ianet_viz.course.demo import WEIGHTS, load_shipped

    bad = tmp_path / "demo.pt"
    bad.write_bytes(WEIGHTS.read_bytes()[:1000])  # a truncated copy, with the shipped checksum beside it
    (tmp_path / "demo.pt.sha256").write_text((WEIGHTS.parent / (WEIGHTS.name + ".sha256")).read_text())
    with pytest.raises(RuntimeError, match="damaged.*git checkout"):
        load_shipped(path=bad)
    with pytest.raises(FileNotFoundError, match="--export"):
        load_shipped(path=tmp_path / "missing.pt")


def test_paired_ci_matches_a_hand_computation_and_rejects_bad_input():
    from ianet_viz.course.stats import paired_ci

    a, b = [55.0, 51.0, 54.0, 55.5, 52.5], [52.5, 50.9, 52.0, 52.8, 51.0]
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 4)
    ci = paired_ci(a, b)
    assert ci["n"] == 5 and ci["mean"] == pytest.approx(mean)
    assert ci["hi"] - ci["mean"] == pytest.approx(2.776 * sd / math.sqrt(5))  # t(0.975, 4) = 2.776
    assert ci["lo"] > 0  # every seed gains: the interval is above zero
    one = paired_ci([1.0], [0.5])
    assert one["mean"] == 0.5 and math.isnan(one["lo"])
    with pytest.raises(ValueError, match="non-empty"):
        paired_ci([], [])


def test_shipped_demo_fields_follow_parts_more_than_a_blob_of_their_size(tmp_path):
    """Issue 17's claim for the shipped demo model, on synthetic people it never saw: S's part lift
    with the query cell removed is >= 1.25 times that of a Gaussian of the same self-weight, at both
    blocks; the paper-literal model beside it keeps most of each row on the query cell."""
    import torch

    from ianet_viz.course import demo_model, mechanism_report, paper_model
    from ianet_viz.course.mechanism import held_out_people
    from ianet_viz.synthetic import generate_dataset

    torch.set_num_threads(1)
    root = generate_dataset(tmp_path / "people", identities=16, images_per_identity=4, seed=4242, height=128, width=64)
    x, masks = held_out_people(root, (128, 64), n=24)
    demo = mechanism_report(demo_model(progress=False)[0], x, masks)
    for block, row in demo.items():
        assert row["lift_S"] >= 1.25 * row["lift_matched"], (block, row)
    paper = mechanism_report(paper_model()[0], x, masks)
    assert paper["stage2"]["self_S"] > 0.5 and max(r["sia_ratio"] for r in paper.values()) < 0.05, paper


def test_shipped_demo_fields_are_the_size_of_parts_and_on_their_part(tmp_path):
    """Issue 22's claim for the shipped demo model at stage 2, on synthetic people it never saw: its
    fields spread over >= 6 effective cells, hold >= 0.6 of their weight (query cell removed) on the
    query's own part, >= 1.5x a Gaussian of the same size, <= 0.15 on the background, and every IA
    branch adds >= 5 % of its input."""
    import torch

    from ianet_viz.course import demo_model, mechanism_report
    from ianet_viz.course.mechanism import held_out_people
    from ianet_viz.synthetic import generate_dataset

    torch.set_num_threads(1)
    root = generate_dataset(tmp_path / "people", identities=16, images_per_identity=4, seed=4242, height=128, width=64)
    x, masks = held_out_people(root, (128, 64), n=24)
    rep = mechanism_report(demo_model(progress=False)[0], x, masks)
    st2 = rep["stage2"]
    assert st2["cells_S"] >= 6 and st2["own_S"] >= 0.6 and st2["own_S"] >= 1.5 * st2["own_gauss"], st2
    assert st2["background_S"] <= 0.15, st2
    assert min(row[k] for row in rep.values() for k in ("sia_ratio", "cia_ratio")) >= 0.05, rep
