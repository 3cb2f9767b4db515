"""Smoke tests of the benchmark scripts: each main() runs at tiny sizes and reports its ratios.

No timing is asserted anywhere (the machine is shared and noisy); these only prove that every
script runs end to end, produces its table/ratios, and never touches benchmarks/RESULTS.md
without --write.
"""
import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402


@pytest.fixture(autouse=True)
def _results_untouched(monkeypatch, tmp_path):
    """Every test writes RESULTS.md (if at all) to a temporary file."""
    monkeypatch.setattr(common, "RESULTS_MD", tmp_path / "RESULTS.md")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_common_interleaved_ratio_and_sections(tmp_path):
    calls = []
    t = common.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=1,
                           clock="cpu")
    assert len(t["a"]) == len(t["b"]) == 4
    assert calls[:2] == ["a", "b"] and calls[2:4] == ["a", "b"] and calls[4:6] == ["b", "a"]  # rotating order
    assert common.paired_ratio([2.0, 4.0, 6.0], [1.0, 2.0, 2.0]) == 2.0
    assert "torch" in common.describe_device() and "CPU" in common.describe_device()
    md = tmp_path / "R.md"
    common.update_results("x", "first", md)
    common.update_results("y", "other", md)
    common.update_results("x", "second", md)
    text = md.read_text()
    assert "second" in text and "first" not in text and "other" in text
    assert text.count("<!-- BEGIN x -->") == 1
    table = common.format_table([{"a": 1.23456, "b": "z"}], markdown=True)
    assert table.startswith("| a | b |")


@pytest.mark.slow
def test_cost_quick():
    from benchmarks import cost

    rows = cost.main(["--quick"])
    assert rows[0]["config"] == "baseline"
    assert all(r["GMac"] > 0 for r in rows)
    assert rows[4]["GMac"] > rows[0]["GMac"]  # IA blocks add multiply-adds


def test_cpu_latency_quick(tmp_path):
    from benchmarks import cpu_latency

    out = cpu_latency.main(["--quick", "--repeats", "2", "--write"])
    names = [r["model"] for r in out["rows"]]
    assert names == ["baseline", "+SIA stage3", "IANet", cpu_latency.KEPT, cpu_latency.WHOLE]
    assert {"stage2/S", "stage3/S", "stage2/C"} <= set(out["subnormal"]) and all(0 <= v <= 1 for v in out["subnormal"].values())
    for r in out["rows"]:
        assert r["MAC ratio"] >= 1.0 and math.isfinite(r["time/MAC ratio"])
    assert {p["block"] for p in out["profile"]} == {"stage2", "stage3"}
    assert "cpu_latency" in common.RESULTS_MD.read_text()


def test_multicontext_quick_and_naive_reference():
    from benchmarks import multicontext
    from ianet_viz import functional as Fn

    f = 0.1 * torch.randn(2, 5, 6, 4, dtype=torch.float64)
    for ks in [(1,), (2,), (3,), (1, 2, 3)]:
        e, _ = Fn.sia(f, ks=ks, sigma=(2.0, 4.0), need_maps=False)
        assert torch.allclose(multicontext.naive_sia(f, ks, (2.0, 4.0)), e, atol=1e-12)
    out = multicontext.main(["--quick", "--repeats", "2"])
    assert len(out["rows"]) == 9 and all("[" in r["median [min,max]"] for r in out["rows"])
    assert any(r["ratio"].startswith("K=1,2,3 fast / K=1,2,3 whole-tensor") for r in out["rows"])


def test_evaluation_quick_matches_classic_loop():
    from benchmarks import evaluation

    out = evaluation.main(["--quick", "--repeats", "1"])
    assert out["cmc_diff"] <= 1e-6 and out["map_diff"] <= 1e-6
    assert out["speedup"] > 0 and 0 < out["mAP"] <= 1


@pytest.mark.slow
def test_viewer_quick():
    pytest.importorskip("ipywidgets")
    from benchmarks import viewer

    out = viewer.main(["--quick", "--repeats", "2"])
    assert len(out["rows"]) == 4
    assert all(v == out["n_images"] for v in out["forwards"].values())  # selections hit the cache


def test_gpu_throughput_skips_without_cuda(monkeypatch, capsys):
    from benchmarks import gpu_throughput

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = gpu_throughput.main([])
    assert out["skipped"] and "SKIPPED" in capsys.readouterr().out


def test_gpu_throughput_code_path_on_cpu():
    from benchmarks import gpu_throughput

    # fp32 only: bf16 convolutions on a CPU without bf16 units are very slow
    out = gpu_throughput.main(["--device", "cpu", "--quick", "--compile", "off", "--precisions", "fp32",
                               "--workers", "0", "--batches", "2", "--memory-format", "nchw"])
    assert len(out["rows"]) == 2 and all(r["img/s"] > 0 for r in out["rows"])
    assert all("vs baseline" in r for r in out["rows"] if r["model"] == "IANet")
    assert len(out["loader"]) == 2 and all(0 <= r["wait share"] <= 1 for r in out["loader"])
    # the training loop itself (ianet_viz.train.train) on JPEGs in memory: images/s and loader wait
    assert len(out["engine"]) == 2 and all(r["engine img/s"] > 0 and r["steps"] == 2 for r in out["engine"])
    assert all(0 <= r["wait share"] <= 1 and r["loader wait s"] >= 0 for r in out["engine"])


def test_notebooks_times_a_tiny_notebook(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from benchmarks import notebooks

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nassert os.environ['IANET_SMOKE'] == '1'\nprint('ok')")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    before = path.read_text()
    out = notebooks.main([str(path)])
    assert out["rows"][0]["status"] == "ok", out["rows"][0]["error"]
    assert out["rows"][0]["wall s"] > 0 and path.read_text() == before  # not modified


def test_scale_entropy_quick():
    from benchmarks import scale_entropy

    p = torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])
    st = scale_entropy.entropy_stats(p)
    assert abs(st["H mean"] - 0.5) < 1e-9 and abs(st["peak x uniform"] - 2.5) < 1e-9
    out = scale_entropy.main(["--quick"])
    maps = {r["map"] for r in out["rows"]}
    assert {"S_A_1", "C (CIA)"} <= maps
    assert all(0.0 <= r["H mean"] <= 1.0 + 1e-9 for r in out["rows"])


@pytest.mark.slow
def test_experiments_quick(monkeypatch, tmp_path):
    from benchmarks import experiments

    monkeypatch.setitem(experiments.GRIDS, "ia", [("baseline", dict(ia_stages=())), ("IA (SIA+CIA)", {})])
    argv = ["--quick", "--grid", "ia", "--seeds", "1", "--results-dir", str(tmp_path), "--runs-dir",
            str(tmp_path / "runs"), "--identities", "8", "--images", "4", "--batch-size", "8"]
    out = experiments.main(argv)
    rows = out["ia"]["rows"]
    assert [r["config"] for r in rows] == ["baseline", "IA (SIA+CIA)"]
    assert all(0 <= float(r["mAP"]) <= 1 for r in rows)
    assert rows[0].get("align_stage3", "") in ("", None) and float(rows[1]["align_stage3"]) > 0
    assert (tmp_path / "ia_quick.csv").exists() and (tmp_path / "ia_quick.png").exists()
    assert 0 < float(rows[1]["S_self_stage3"]) <= 1 and 0 <= float(rows[1]["S_entropy_stage3"]) <= 1
    # a second call trains nothing: every run is cached
    out2 = experiments.main(argv)
    assert [float(r["mAP"]) for r in out2["ia"]["rows"]] == [float(r["mAP"]) for r in rows]
    # --rescore recomputes the map columns from the saved checkpoints, without training
    out3 = experiments.main(argv + ["--rescore"])
    assert float(out3["ia"]["rows"][1]["S_self_stage3"]) == pytest.approx(float(rows[1]["S_self_stage3"]), abs=1e-3)


@pytest.mark.parametrize("script", ["cost"])
def test_scripts_run_as_modules(script):
    """``python -m benchmarks.NAME --help`` works from the repository root (no sys.path set-up in the scripts)."""
    r = subprocess.run([sys.executable, "-m", f"benchmarks.{script}", "--help"], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and "--quick" in r.stdout


def test_mkl_intel_path_wrapper_preloads_its_shim_and_passes_the_exit_code():
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the MKL diagnostic wrapper cannot build its shim")
    script = REPO / "tools" / "mkl_intel_path.sh"
    probe = "import os, sys; print(os.environ['LD_PRELOAD']); sys.exit(3)"
    out = subprocess.run(["bash", str(script), sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 3, out.stderr
    assert "libmkl_intel_path.so" in out.stdout
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_mechanism_quick_runs_pairs_and_summarises(tmp_path, monkeypatch):
    """benchmarks.mechanism at a tiny scale: trains the baseline and a lever for two seeds with the
    monitor on, writes one CSV row per run with the mechanism columns, and pairs them by seed."""
    import ianet_viz.settings as settings
    from benchmarks import mechanism

    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "data")
    csv_path = tmp_path / "mech.csv"
    table = mechanism.main(["--configs", "baseline,cosine7+mean+gate0.1", "--seeds", "0,1", "--epochs", "1",
                            "--identities", "12", "--images", "6", "--height", "64", "--width", "32",
                            "--csv", str(csv_path), "--runs-dir", str(tmp_path / "runs"), "--curves"])
    rows = list(csv.DictReader(open(csv_path)))
    assert sorted((r["config"], r["seed"]) for r in rows) == [("baseline", "0"), ("baseline", "1"),
                                                             ("cosine7+mean+gate0.1", "0"), ("cosine7+mean+gate0.1", "1")]
    lever = [r for r in rows if r["config"] != "baseline"]
    assert all(float(r["stage2_sia_ratio"]) > 0 and 0 < float(r["stage2_self_S"]) <= 1 for r in lever)
    line = {t["config"]: t for t in table}["cosine7+mean+gate0.1"]
    assert line["seeds"] == 2 and "[" in line["Δ mAP vs baseline [95% CI]"]
    curves = list(csv.DictReader(open(tmp_path / "mechanism_curves.csv")))
    assert {r["epoch"] for r in curves if r["config"] != "baseline"} == {"0", "1"}


def test_mechanism_fine_tuning_needs_the_seeds_baseline(tmp_path, monkeypatch):
    """The paper's regime starts from the same seed's trained baseline: without it, a clear error."""
    import ianet_viz.settings as settings
    from benchmarks import mechanism

    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "data")
    with pytest.raises(FileNotFoundError, match="not trained yet.*--configs baseline --seeds 3"):
        mechanism.main(["--configs", "ft:paper", "--seeds", "3", "--epochs", "1", "--csv", str(tmp_path / "m.csv"),
                        "--runs-dir", str(tmp_path / "runs")])
    assert not (tmp_path / "m.csv").exists()


def test_protocols_summary_has_every_table_and_the_block_columns():
    from benchmarks import protocols
    from ianet_viz.course import protocols as P

    runs = P.all_runs()
    rows = [{"config": label, "seed": s, "mAP": 0.30 + 0.01 * s + (0.02 if label != P.BASELINE else 0.0),
             "rank1": 0.4} for label in runs for s in range(3)]
    mech = [{"config": label, "seed": s, "sia_ratio": 0.07, "self_S": 0.5, "lift_S": 2.0, "lift_local": 1.5}
            for label in runs if label != P.BASELINE for s in range(3)]
    table = protocols.summary(rows, mech)
    assert {r["table"] for r in table} == set(protocols.tables())
    ia = [r for r in table if r["row"] != P.BASELINE]
    assert all(r["ΔmAP [95% CI]"] == "+2.0 [+2.0, +2.0]" and r["adds"] == "0.070" and r["self S"] == "0.50" for r in ia)
    assert all(r["adds"] == "" for r in table if r["row"] == P.BASELINE)
