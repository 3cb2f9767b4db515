"""Protocol sweeps in another setting (issue 19): run elsewhere by ``python -m benchmarks.protocols --dataset
--backbone --size --device``, read back by notebooks 05 and 06, which say which sweep they show."""
import csv
import json

import pytest

from ianet_viz.course import protocols as P
from ianet_viz.train import TrainConfig

MARKET = P.Setting("market1501", "resnet50", (256, 128))


def test_setting_names_its_folder_csv_and_command():
    assert P.Setting().default and P.Setting.of(TrainConfig(dataset="synthetic", backbone="resnet18", height=128,
                                                            width=64)) == P.Setting()
    assert P.Setting().run_name() == "protocols" and P.Setting().run_name(smoke=True) == "protocols-smoke"
    assert P.Setting().csv_name() == "protocols.csv" and P.Setting().overrides(device=None) == {}
    assert P.Setting.of(TrainConfig(dataset="market1501", backbone="resnet50")) == MARKET and not MARKET.default
    assert MARKET.run_name() == "protocols-market1501-resnet50-256x128"
    assert MARKET.csv_name() == "protocols-market1501-resnet50-256x128.csv"
    assert MARKET.overrides(device="cuda", pretrained=None) == dict(dataset="market1501", backbone="resnet50",
                                                                   height=256, width=128, device="cuda")
    assert MARKET.command() == ("python -m benchmarks.protocols --dataset market1501 --backbone resnet50 "
                                "--size 256x128 --device cuda --write")
    assert P.parse_size("256x128") == (256, 128)
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        P.parse_size("256")


def _write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_read_back_a_csv_written_elsewhere(tmp_path):
    label = P.fig7_label(5.0, False)
    _write_csv(tmp_path / MARKET.csv_name(), [
        {"config": P.BASELINE, "seed": "0", "mAP": "0.7", "rank1": "0.8", "rank5": "0.9", "wall_s": "",
         "sia_ratio": "", "self_S": "", "lift_S": "", "lift_local": "", "dataset": "market1501"},
        {"config": label, "seed": "0", "mAP": "0.72", "rank1": "0.81", "rank5": "0.9", "wall_s": "12.5",
         "sia_ratio": "0.07", "self_S": "0.4", "lift_S": "2.0", "lift_local": "4.0", "dataset": "market1501"},
        {"config": "not a protocol run", "seed": "0", "mAP": "0.1", "rank1": "0.1", "rank5": "0.1", "wall_s": "",
         "sia_ratio": "", "self_S": "", "lift_S": "", "lift_local": "", "dataset": "market1501"},
    ])
    rows, mech, where = P.read_back(MARKET, folder=tmp_path)
    assert [(r["config"], r["seed"], r["mAP"]) for r in rows] == [(P.BASELINE, 0, 0.7), (label, 0, 0.72)]
    assert mech == [{"config": label, "seed": 0, "sia_ratio": 0.07, "self_S": 0.4, "lift_S": 2.0, "lift_local": 4.0}]
    assert where.endswith(MARKET.csv_name())
    assert P.difference_table(rows, {"s1=5": label})[1]["diff"] == pytest.approx(2.0)  # points of mAP


def test_read_back_finished_run_folders_and_nothing(tmp_path, monkeypatch):
    import ianet_viz.course.sweep as S
    from ianet_viz import settings

    monkeypatch.setattr(S, "RUNS_DIR", tmp_path)
    monkeypatch.setattr(settings, "RESULTS_DIR", tmp_path / "results")
    assert P.read_back(MARKET) is None
    for label, seed, m in ((P.BASELINE, 0, 0.5), (P.BASELINE, 3, 0.6), (P.fig7_label(0.5, True), 1, 0.4)):
        folder = S.run_folder(MARKET.run_name(), label, seed)
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"mAP": m, "rank1": m, "rank5": m, "epoch": 6}))
    (S.run_folder(MARKET.run_name(), P.BASELINE, 0).parent / "baseline-seedX").mkdir()  # not a run
    rows, mech, where = P.read_back(MARKET)
    assert sorted((r["config"], r["seed"], r["mAP"]) for r in rows) == [
        ("S^L only s1=0.5", 1, 0.4), (P.BASELINE, 0, 0.5), (P.BASELINE, 3, 0.6)]
    assert mech == [] and where == f"runs/notebooks/{MARKET.run_name()}/"  # no checkpoint: nothing measured


def test_sweep_rows_reads_another_setting_back_and_never_trains_it(tmp_path, monkeypatch, capsys):
    import ianet_viz.course.sweep as S
    from ianet_viz import settings

    trained = []
    monkeypatch.setattr(S, "run_sweep", lambda runs, **kw: trained.append(kw["name"]) or
                        [{"config": P.BASELINE, "seed": 0, "mAP": 0.3, "rank1": 0.4, "rank5": 0.5, "wall_s": None}])
    monkeypatch.setattr(P, "mechanism_rows", lambda rows, **kw: [])
    monkeypatch.setattr(settings, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(S, "RUNS_DIR", tmp_path)
    runs = P.fig7_runs((5.0,))

    rows, mech, shown = P.sweep_rows(MARKET, runs, seeds=(0,))   # nothing here: a note, then the CPU sweep
    assert "note: no protocol sweep of market1501, resnet50, 256x128" in capsys.readouterr().out
    assert trained == ["protocols"] and str(shown).startswith("showing: the course's sweep (synthetic, resnet18, 128x64")
    assert shown.setting == P.Setting() and shown.setting.paper_sigma_factor == 2.0  # an 8 x 4 stage-3 map

    _write_csv(tmp_path / MARKET.csv_name(), [{"config": P.BASELINE, "seed": "0", "mAP": "0.7", "rank1": "0.8",
                                              "rank5": "0.9"}])
    rows, mech, shown = P.sweep_rows(MARKET, runs, seeds=(0,))
    assert trained == ["protocols"] and rows[0]["mAP"] == 0.7    # read back, not trained
    assert str(shown).startswith("showing: the sweep of market1501, resnet50, 256x128 run elsewhere")
    assert shown.setting == MARKET and MARKET.paper_sigma_factor == 1.0 and shown.where.endswith(MARKET.csv_name())
    P.sweep_rows(P.Setting(), runs, seeds=(0,), smoke=True)
    assert trained[-1] == "protocols-smoke"


def test_benchmark_command_line_trains_in_the_setting_and_writes_its_csv(tmp_path, monkeypatch):
    import ianet_viz.course as C
    from benchmarks import common, protocols

    calls = []

    def fake_run_sweep(variants, seeds, scale, name, resume):
        (label, overrides), = variants.items()
        calls.append((label, name, overrides))
        return [{"config": label, "seed": seeds[0], "mAP": 0.5, "rank1": 0.6, "rank5": 0.7, "wall_s": 1.0}]

    monkeypatch.setattr(C, "run_sweep", fake_run_sweep)
    monkeypatch.setattr(P, "mechanism_rows", lambda rows, **kw: calls.append(("mech", kw)) or [])
    monkeypatch.setattr(protocols, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(common, "RESULTS_MD", tmp_path / "RESULTS.md")
    protocols.main(["--dataset", "market1501", "--backbone", "resnet50", "--size", "256x128", "--device", "cpu",
                    "--seeds", "0", "--write"])
    label, name, overrides = calls[0]
    assert name == MARKET.run_name() and overrides["device"] == "cpu" and overrides["dataset"] == "market1501"
    assert (overrides["backbone"], overrides["height"], overrides["width"]) == ("resnet50", 256, 128)
    assert calls[-1][1]["setting"] == MARKET
    with open(tmp_path / MARKET.csv_name()) as fh:
        written = list(csv.DictReader(fh))
    assert len(written) == len(P.all_runs()) and written[0]["size"] == "256x128" and written[0]["device"] == "cpu"
    assert "(market1501, resnet50, 256x128)" in (tmp_path / "RESULTS.md").read_text()


def test_full_mode_shows_the_committed_course_sweep_without_training(tmp_path, monkeypatch):
    import ianet_viz.course.sweep as S
    from ianet_viz import settings

    trained = []
    monkeypatch.setattr(S, "run_sweep", lambda runs, **kw: trained.append(kw["name"]) or [])
    monkeypatch.setattr(P, "mechanism_rows", lambda rows, **kw: [])
    monkeypatch.setattr(settings, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(S, "RUNS_DIR", tmp_path / "runs")
    runs = P.fig7_runs((5.0,))
    _write_csv(tmp_path / P.Setting().csv_name(), [{"config": P.BASELINE, "seed": "0", "mAP": "0.4", "rank1": "0.5",
                                                   "rank5": "0.6"}])
    rows, mech, shown = P.sweep_rows(P.Setting(), runs, seeds=(0,))
    assert trained == [] and rows[0]["mAP"] == 0.4 and "read back from" in str(shown)
    P.sweep_rows(P.Setting(), runs, seeds=(0,), smoke=True)  # smoke mode always trains its tiny sweep
    assert trained == ["protocols-smoke"]
