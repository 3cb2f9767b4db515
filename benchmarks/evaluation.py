"""Evaluation: ``ianet_viz.metrics.evaluate_rank`` vs torchreid's and fast-reid's compiled (Cython) evaluators and torchreid's Python one, Market-1501 scale.

Market-1501's test protocol has 3368 queries and 15913 gallery images (13115 of the 751 test
identities, the rest distractors), 6 cameras. The data here is synthetic in those proportions:
every identity has a random centre in a 256-d embedding, images are noisy copies (noise 2x the
centre's scale: rank-1 about 0.87, mAP about 0.48), distances are cosine (float32, like a real
model's output), and there are junk entries (same id, same camera) to drop.

The anchors are what a re-ID user actually runs, obtained from PyPI when the script runs (nothing
third-party is in this repository, and the package never depends on Cython):

* ``torchreid-cy``: torchreid's ``rank_cy.pyx`` (``evaluate_cy``, Market protocol), compiled here
  with Cython. PyPI's ``torchreid`` (0.2.x, the "Torchreid-Pip" repackaging) ships no
  ``rank_cy.pyx``, so the script takes it from the ``pyppbox-torchreid`` sdist, a fork of
  torchreid 1.4.0 whose ``rank_cy.pyx`` is upstream's with ``long`` spelled ``int64_t`` (the same
  type on Linux x86-64). ``--torchreid-pyx PATH`` uses a file from a deep-person-reid clone instead.
* ``fastreid-cy``: fast-reid's ``rank_cy.pyx`` (from the ``fastreid`` wheel), compiled the same way;
  it returns per-query AP and INP, and the mAP is their mean, as fast-reid computes it.
* ``torchreid-py``: torchreid's pure-Python ``eval_market1501`` (``torchreid`` sdist,
  ``torchreid/reid/metrics/rank.py``).
* ``classic``: the same per-query loop written below (stable sort); the reference of ``--quick``,
  which by default downloads nothing (``--quick --anchors all`` smoke-tests the download path).

Timed in the same rounds, always: ``ianet_viz.metrics._evaluate_rank_sorted``, the previous
``evaluate_rank`` (it sorts the values of every row, then binary-searches each match; the numbers
are checked equal to ``evaluate_rank``'s first), and a plain ``np.sort(distmat, axis=1)`` of the
float32 matrix, reported in ns per element: how fast sorting is on the machine the figures come
from, which is what the sort-bound evaluators (the anchors argsort the whole matrix) pay for.

Cython is installed with ``pip install --target`` into the temporary build folder, not into the
environment; the extensions are compiled with the interpreter's C compiler and flags
(``setuptools`` ``build_ext``). Without network or a compiler, the anchors that need them are
skipped with a message. Every implementation must give the same CMC and mAP as
``evaluate_rank`` before anything is timed (to 1e-6; the Cython evaluators accumulate AP and mAP
in float32, so for them the bound is 1e-5 and the measured difference is printed). Then all run
interleaved, in CPU time with one thread, and the ratios are paired per round.
Target: >= 5x faster than torchreid's Cython evaluator (time ratio evaluate_rank / torchreid-cy <= 0.2).

    python -m benchmarks.evaluation [--quick] [--write] [--repeats 5] [--anchors all]
        [--build-dir DIR] [--torchreid-pyx PATH] [--fastreid-pyx PATH]
"""
from __future__ import annotations

import importlib.util
import sys
import os
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ianet_viz.reference import classic_eval_market1501

from benchmarks.common import (
    apply_threads, command_line, describe_device, format_table, interleaved, make_parser, median, paired_ratio,
    ratio_spread, section, update_results,
)

TARGET = 5.0
HEADLINE = "torchreid-cy"
ANCHORS = ("torchreid-cy", "fastreid-cy", "torchreid-py", "classic")
LABELS = {
    "evaluate_rank": "ianet_viz.metrics.evaluate_rank",
    "torchreid-cy": "torchreid rank_cy.pyx evaluate_cy (Cython)",
    "fastreid-cy": "fast-reid rank_cy.pyx evaluate_cy (Cython)",
    "torchreid-py": "torchreid eval_market1501 (Python)",
    "classic": "classic per-query loop (numpy, stable sort)",
    "sorted-twin": "_evaluate_rank_sorted (previous: row sort + search)",
    "np.sort": "np.sort(distmat, axis=1) alone (float32)",
}
# where each anchor comes from on PyPI: (requirement, pip download flags, file inside the archive)
PYPI = {
    "torchreid-py": ("torchreid==0.2.5", ["--no-binary", ":all:"], "torchreid/reid/metrics/rank.py"),
    "torchreid-cy": ("pyppbox-torchreid==1.4.1.0", ["--no-binary", ":all:"],
                     "pyppbox_torchreid/metrics/rank_cylib/rank_cy.pyx"),
    "fastreid-cy": ("fastreid==1.4.0", ["--only-binary", ":all:"], "fastreid/evaluation/rank_cylib/rank_cy.pyx"),
}
FLOAT32_ANCHORS = ("torchreid-cy", "fastreid-cy")  # accumulate AP and mAP in float32


def market_like(num_q=3368, num_g=15913, num_ids=751, num_cams=6, distractors=2798, dim=256, seed=0, noise=2.0):
    """Synthetic Market-1501-sized retrieval problem: (distmat float32, q_pids, g_pids, q_camids, g_camids)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids + 1, dim)).astype(np.float32)
    n_id_gallery = num_g - distractors
    g_pids = np.concatenate([np.arange(1, num_ids + 1), rng.integers(1, num_ids + 1, n_id_gallery - num_ids)])
    g_pids = np.concatenate([g_pids, np.zeros(distractors, dtype=np.int64)])  # pid 0 = distractor
    q_pids = np.concatenate([np.arange(1, num_ids + 1), rng.integers(1, num_ids + 1, num_q - num_ids)])
    g_camids = rng.integers(0, num_cams, num_g)
    q_camids = rng.integers(0, num_cams, num_q)

    def feats(pids):
        c = centres[pids]
        c[pids == 0] = rng.standard_normal((int((pids == 0).sum()), dim)).astype(np.float32)
        return c + noise * rng.standard_normal(c.shape).astype(np.float32)

    qf, gf = feats(q_pids), feats(g_pids)
    qf /= np.linalg.norm(qf, axis=1, keepdims=True)
    gf /= np.linalg.norm(gf, axis=1, keepdims=True)
    distmat = (1.0 - qf @ gf.T).astype(np.float32)
    return distmat, q_pids, g_pids, q_camids, g_camids


def _match_tie_mask(distmat, q_pids, g_pids) -> np.ndarray:
    """[Q, G] bool: true matches (same pid) whose distance equals another entry of their row."""
    mask = np.zeros(distmat.shape, dtype=bool)
    for q in range(distmat.shape[0]):
        row = distmat[q]
        cols = np.flatnonzero(g_pids == q_pids[q])
        if cols.size:
            s = np.sort(row)
            t = row[cols]
            mask[q, cols] = (np.searchsorted(s, t, "right") - np.searchsorted(s, t, "left")) > 1
    return mask


def count_match_ties(distmat, q_pids, g_pids) -> int:
    """Number of true matches whose distance equals another entry of their row: where the tie rule
    matters (numpy's default argsort, which the anchors use, may order them either way)."""
    return int(_match_tie_mask(distmat, q_pids, g_pids).sum())


def untie(distmat, q_pids, g_pids) -> np.ndarray:
    """A copy where no true match ties another entry of its row: in each group of equal distances
    holding a true match, the k-th entry (in gallery order) moves up by k float ulps (repeated until
    no tie is left). On it, every tie rule gives the same ranking."""
    d = distmat.copy()
    for _ in range(100):
        mask = _match_tie_mask(d, q_pids, g_pids)
        if not mask.any():
            return d
        for q in np.flatnonzero(mask.any(axis=1)):
            row = d[q]
            for t in np.unique(row[mask[q]]):
                for k, c in enumerate(np.flatnonzero(row == t)[1:], 1):
                    for _ in range(k):
                        row[c] = np.nextafter(row[c], np.inf)
    raise RuntimeError("could not remove the ties")


# ------------------------------------------------------------------------------ obtaining the anchors
class Unavailable(RuntimeError):
    """An anchor that cannot be obtained here (no network, no compiler, build failure)."""


def _tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def _pip(args: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise Unavailable(f"`pip {' '.join(args)}` timed out after {timeout} s (no network?)") from err


class AnchorBuilder:
    """Downloads the anchors' sources from PyPI into ``work`` and compiles the Cython ones there."""

    def __init__(self, work: Path, log: Callable[[str], None] = print):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._cython_dir: Optional[Path] = None

    # -- Cython, in the build folder only
    def cython_env(self) -> Dict[str, str]:
        """Environment in which ``import Cython`` and the ``cython`` command work."""
        if self._cython_dir is None:
            target = self.work / "cython"
            if not (target / "Cython").is_dir():
                self.log("installing Cython into the build folder (pip install --target) ...")
                r = _pip(["install", "--quiet", "--target", str(target), "cython"])
                if r.returncode != 0:
                    raise Unavailable(f"could not install Cython from PyPI (no network?): {_tail(r.stderr)}")
            self._cython_dir = target
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self._cython_dir), env.get("PYTHONPATH", "")) if p)
        env["PATH"] = os.pathsep.join((str(self._cython_dir / "bin"), env.get("PATH", "")))
        return env

    # -- sources
    def download(self, name: str) -> Path:
        requirement, flags, _ = PYPI[name]
        dest = self.work / "downloads" / name
        have = sorted(dest.glob("*")) if dest.is_dir() else []
        if have:
            return have[0]
        dest.mkdir(parents=True, exist_ok=True)
        self.log(f"downloading {requirement} from PyPI ...")
        args = ["download", "--quiet", "--no-deps", *flags, "-d", str(dest), requirement]
        env = None
        if "--no-binary" in flags:
            # pip prepares the metadata of an sdist; pyppbox-torchreid's setup.py runs `cython` and
            # pins old build requirements, so use the Cython above and no build isolation
            env = self.cython_env() if name == "torchreid-cy" else None
            if env is not None:
                args.insert(1, "--no-build-isolation")
        r = _pip(args, env=env)
        have = sorted(dest.glob("*"))
        if r.returncode != 0 or not have:
            raise Unavailable(f"could not download {requirement} from PyPI (no network?): {_tail(r.stderr)}")
        return have[0]

    @staticmethod
    def extract(archive: Path, member_suffix: str) -> str:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                names = [n for n in z.namelist() if n.endswith(member_suffix)]
                if names:
                    return z.read(names[0]).decode()
        else:
            with tarfile.open(archive) as t:
                members = [m for m in t.getmembers() if m.name.endswith(member_suffix)]
                if members:
                    return t.extractfile(members[0]).read().decode()
        raise Unavailable(f"{archive.name} holds no {member_suffix}")

    def source(self, name: str, local: Optional[str] = None) -> Tuple[str, str]:
        """(text, provenance) of an anchor's source file."""
        if local:
            return Path(local).read_text(), f"{local}"
        archive = self.download(name)
        return self.extract(archive, PYPI[name][2]), f"{archive.name} from PyPI, {PYPI[name][2]}"

    # -- building
    def build(self, name: str, pyx_text: str):
        """Compile a ``rank_cy.pyx`` as module ``<name>`` (its own name, so two can be loaded)."""
        cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(cc) is None:
            raise Unavailable(f"no C compiler ({cc!r} not found): cannot build the Cython evaluator")
        mod = name.replace("-", "_")
        d = self.work / "build" / mod
        built = sorted(d.glob(f"{mod}*.so")) + sorted(d.glob(f"{mod}*.pyd"))
        if not built or (d / f"{mod}.pyx").read_text() != pyx_text:
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            (d / f"{mod}.pyx").write_text(pyx_text)
            (d / "setup.py").write_text(
                "import numpy as np\n"
                "from setuptools import Extension, setup\n"
                "from Cython.Build import cythonize\n"
                f"setup(name={mod!r}, script_args=['build_ext', '--inplace'], ext_modules=cythonize(\n"
                f"    [Extension({mod!r}, [{mod + '.pyx'!r}], include_dirs=[np.get_include()])],\n"
                "    compiler_directives={'language_level': 3}, quiet=True))\n"
            )
            self.log(f"compiling {name} (Cython + {cc}) ...")
            r = subprocess.run([sys.executable, "setup.py"], cwd=d, env=self.cython_env(),
                               capture_output=True, text=True, timeout=900)
            built = sorted(d.glob(f"{mod}*.so")) + sorted(d.glob(f"{mod}*.pyd"))
            if r.returncode != 0 or not built:
                raise Unavailable(f"building {name} failed: {_tail(r.stderr or r.stdout)}")
        spec = importlib.util.spec_from_file_location(mod, built[0])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def load_python(self, name: str, text: str):
        d = self.work / "python"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{name.replace('-', '_')}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        with warnings.catch_warnings():  # "Cython evaluation ... is unavailable": we time the Python one
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
        return module


def obtain_anchors(names: Sequence[str], work: Path, torchreid_pyx: Optional[str] = None,
                   fastreid_pyx: Optional[str] = None, log: Callable[[str], None] = print):
    """``({name: fn(distmat, q_pids, g_pids, q_camids, g_camids, max_rank) -> (cmc, mAP, all_AP|None)}``,
    ``{name: provenance}``, ``{name: why skipped}``)."""
    builder = AnchorBuilder(work, log)
    fns, provenance, skipped = {}, {}, {}
    for name in names:
        try:
            if name == "classic":
                fns[name] = lambda *a: (*classic_eval_market1501(*a)[:2], None)  # (cmc, mAP), no per-query AP
                provenance[name] = "ianet_viz.reference.classic_eval_market1501"
            elif name == "torchreid-py":
                text, provenance[name] = builder.source(name)
                mod = builder.load_python(name, text)
                fns[name] = lambda *a, _m=mod: (*_m.eval_market1501(*a), None)
            elif name in ("torchreid-cy", "fastreid-cy"):
                local = torchreid_pyx if name == "torchreid-cy" else fastreid_pyx
                text, provenance[name] = builder.source(name, local)
                mod = builder.build(name, text)
                if name == "torchreid-cy":
                    fns[name] = lambda *a, _m=mod: (*_m.evaluate_cy(*a, False), None)
                else:  # fast-reid returns (cmc, all_AP, all_INP); its evaluator takes the mean
                    def fast(*a, _m=mod):
                        cmc, all_ap, _ = _m.evaluate_cy(*a, False)
                        return cmc, float(np.mean(all_ap)), np.asarray(all_ap)
                    fns[name] = fast
            else:
                raise ValueError(f"unknown anchor {name!r}; expected one of {ANCHORS}")
        except Unavailable as err:
            skipped[name] = str(err)
            provenance.pop(name, None)
            log(f"SKIPPED {name}: {err}")
    return fns, provenance, skipped


# ------------------------------------------------------------------------------ the benchmark
def run(quick: bool = False, repeats: Optional[int] = None, clock: str = "cpu", anchors: Optional[str] = None,
        build_dir: Optional[str] = None, torchreid_pyx: Optional[str] = None, fastreid_pyx: Optional[str] = None) -> Dict:
    from ianet_viz.metrics import _evaluate_rank_sorted, evaluate_rank

    repeats = repeats or 5
    if anchors in (None, "", "auto"):
        names = ["classic"] if quick else ["torchreid-cy", "fastreid-cy", "torchreid-py"]
    elif anchors == "all":
        names = ["torchreid-cy", "fastreid-cy", "torchreid-py"] + (["classic"] if quick else [])
    else:
        names = [a.strip() for a in anchors.split(",") if a.strip()]
    if quick:
        data = market_like(num_q=120, num_g=600, num_ids=40, distractors=100, dim=32)
    else:
        data = market_like()

    tmp = None
    if build_dir is None and any(n != "classic" for n in names):
        tmp = tempfile.TemporaryDirectory(prefix="ianet_eval_anchors_")
    try:
        fns, provenance, skipped = obtain_anchors(
            names, Path(build_dir or (tmp.name if tmp else ".")), torchreid_pyx, fastreid_pyx)

        # same numbers first: on the data as it is, and on a copy without ties at true matches
        # (where the anchors' unstable argsort and the stable tie rule must agree exactly)
        ties = count_match_ties(*data[:3])
        untied = (untie(data[0], data[1], data[2]),) + tuple(data[1:]) if ties else data
        cmc_new, map_new, minp_new, ap_new, inp_new = evaluate_rank(
            *data, max_rank=50, return_minp=True, return_per_query=True)
        ref_u = evaluate_rank(*untied, max_rank=50, return_per_query=True)
        # the sorting twin: the same numbers exactly (same tie rule), checked before it is timed
        twin = _evaluate_rank_sorted(*data, max_rank=50, return_minp=True, return_per_query=True)
        twin_diff = max(float(np.abs(twin[0] - cmc_new).max()), abs(twin[1] - map_new), abs(twin[2] - minp_new),
                        float(np.nanmax(np.abs(twin[3] - ap_new))), float(np.nanmax(np.abs(twin[4] - inp_new))))
        assert twin_diff <= 1e-9, f"_evaluate_rank_sorted differs from evaluate_rank by {twin_diff}"
        checks = []
        for name, fn in fns.items():
            check = {"name": name}
            for key, dd, (c_ref, m_ref, ap_ref) in (
                ("", data, (cmc_new, map_new, ap_new)),
                ("untied_", untied, (ref_u[0], ref_u[1], ref_u[2])),
            ):
                cmc, m, all_ap = fn(*dd, 50)
                n = min(len(cmc), len(c_ref))
                check[key + "cmc_diff"] = float(np.abs(np.asarray(cmc[:n], np.float64) - c_ref[:n]).max())
                check[key + "map_diff"] = abs(float(m) - m_ref)
                check[key + "ap_diff"] = None
                if all_ap is not None:
                    ap_diff = np.abs(all_ap - ap_ref[~np.isnan(ap_ref)])
                    check[key + "ap_diff"] = float(ap_diff.max())
                    check[key + "ap_queries"] = np.flatnonzero(~np.isnan(ap_ref))[ap_diff > 1e-6].tolist()
            bound = 1e-5 if name in FLOAT32_ANCHORS else 1e-6  # float32 accumulators
            assert check["untied_cmc_diff"] <= 1e-6 and check["untied_map_diff"] <= bound, (
                f"{name} differs from evaluate_rank on tie-free data: {check}")
            assert check["untied_ap_diff"] is None or check["untied_ap_diff"] <= 1e-6, check
            # as is, each tied match may change its query's AP (and first-match rank) by less than 1
            slack = ties / len(data[1])
            assert check["cmc_diff"] <= 1e-6 + slack and check["map_diff"] <= bound + slack, check
            checks.append(check)

        timed = {"evaluate_rank": lambda: evaluate_rank(*data, max_rank=50),
                 "sorted-twin": lambda: _evaluate_rank_sorted(*data, max_rank=50),
                 "np.sort": lambda: np.sort(data[0], axis=1)}
        timed.update({n: (lambda f=f: f(*data, 50)) for n, f in fns.items()})
        t = interleaved(timed, repeats=repeats, warmup=0, clock=clock)
    finally:
        if tmp is not None:
            tmp.cleanup()

    rows = []
    for name in timed:
        row = {"implementation": LABELS[name], "median s": median(t[name])}
        if name == "evaluate_rank":
            row["÷ evaluate_rank (paired median [min, max])"] = "1"
            row["|diff| CMC / mAP"] = "-"
        else:
            row["÷ evaluate_rank (paired median [min, max])"] = ratio_spread(t[name], t["evaluate_rank"]) + "x"
            if name == "sorted-twin":
                row["|diff| CMC / mAP"] = f"{twin_diff:.1e} (all outputs)"
            elif name == "np.sort":
                row["|diff| CMC / mAP"] = f"(not an evaluator: {median(t[name]) / data[0].size * 1e9:.2f} ns per element)"
            else:
                c = next(c for c in checks if c["name"] == name)
                row["|diff| CMC / mAP"] = f"{c['cmc_diff']:.1e} / {c['map_diff']:.1e}"
        rows.append(row)
    ratios = {n: paired_ratio(t[n], t["evaluate_rank"]) for n in fns}
    headline = HEADLINE if HEADLINE in ratios else ("classic" if "classic" in ratios else next(iter(ratios), None))
    exact = [c for c in checks if c["name"] not in FLOAT32_ANCHORS] or checks
    return {
        "shape": data[0].shape, "repeats": repeats, "rows": rows, "ratios": ratios, "times": t,
        "headline": headline, "speedup": ratios.get(headline, float("nan")),
        "speedup_str": ratio_spread(t[headline], t["evaluate_rank"]) if headline else "n/a",
        "rank1": float(cmc_new[0]), "mAP": map_new, "mINP": minp_new, "checks": checks, "ties": ties,
        "cmc_diff": max((c["cmc_diff"] for c in exact), default=0.0),
        "map_diff": max((c["map_diff"] for c in exact), default=0.0),
        "provenance": provenance, "skipped": skipped,
        "target_met": headline == HEADLINE and ratios[HEADLINE] >= TARGET,
        "time_ratio": (paired_ratio(t["evaluate_rank"], t[headline]) if headline else float("nan")),
        "twin_speedup": paired_ratio(t["sorted-twin"], t["evaluate_rank"]), "twin_diff": twin_diff,
        "sort_ns_per_element": median(t["np.sort"]) / data[0].size * 1e9,
    }


def report(out: Dict) -> str:
    q, g = out["shape"]
    lines = [
        f"distmat {q} x {g} (float32), max_rank 50, {out['repeats']} interleaved rounds ({out.get('timing', '')}); "
        f"rank-1 {out['rank1']:.4f}, mAP {out['mAP']:.4f}, mINP {out['mINP']:.4f}; "
        f"{out['ties']} true match(es) at the same distance as another entry of their row",
        format_table(out["rows"]),
    ]
    for c in out["checks"]:
        how = "tied matches moved by 1 ulp" if out["ties"] else "the data itself: it has no ties at true matches"
        line = (f"{c['name']}: |diff| to evaluate_rank on a tie-free copy ({how}): "
                f"CMC {c['untied_cmc_diff']:.1e}, mAP {c['untied_map_diff']:.1e}")
        if c["untied_ap_diff"] is not None:
            line += f", per-query AP {c['untied_ap_diff']:.1e}"
            if c["ap_queries"]:
                line += (f"; on the data as is, per-query AP differs (> 1e-6) for queries {c['ap_queries']}, "
                         f"by at most {c['ap_diff']:.1e}: a true match tied with another entry, ordered by "
                         "index here and by numpy's unstable argsort there")
        lines.append(line)
    for name, prov in out["provenance"].items():
        lines.append(f"{name}: {prov}")
    for name, why in out["skipped"].items():
        lines.append(f"SKIPPED {name}: {why}")
    lines.append(f"numpy float32 sort on this machine: {out['sort_ns_per_element']:.2f} ns per element "
                 f"(np.sort(distmat, axis=1), median of the rounds)")
    lines.append(f"sorting twin (_evaluate_rank_sorted, the previous evaluate_rank): same outputs to "
                 f"{out['twin_diff']:.1e}, {out['twin_speedup']:.2f}x the time of evaluate_rank")
    if out["headline"]:
        lines.append(
            f"speedup ({out['headline']} / evaluate_rank, paired median [min, max]): {out['speedup_str']}x, "
            f"time ratio evaluate_rank / {out['headline']} {out['time_ratio']:.3f}  "
            f"target >= {TARGET:g}x (ratio <= {1 / TARGET:g}) vs {HEADLINE}: "
            + ("met" if out["target_met"] else ("MISSED" if out["headline"] == HEADLINE else "not measured")))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    p = make_parser(__doc__.splitlines()[0], timing=True)
    p.add_argument("--anchors", default="auto",
                   help="comma list from " + ", ".join(ANCHORS) + "; 'all'; 'auto' (default): the three "
                        "PyPI anchors, or only 'classic' with --quick (no download)")
    p.add_argument("--build-dir", default=None,
                   help="keep downloads and builds here and reuse them (default: a temporary folder)")
    p.add_argument("--torchreid-pyx", default=None, help="torchreid's rank_cy.pyx from a local clone")
    p.add_argument("--fastreid-pyx", default=None, help="fast-reid's rank_cy.pyx from a local clone")
    args = p.parse_args(argv)
    timing = apply_threads(args)
    out = run(quick=args.quick, repeats=args.repeats, clock=args.clock, anchors=args.anchors,
              build_dir=args.build_dir, torchreid_pyx=args.torchreid_pyx, fastreid_pyx=args.fastreid_pyx)
    out["timing"] = timing
    text = report(out)
    print(text)
    if args.write:
        update_results("evaluation", section(
            "evaluation: evaluate_rank vs torchreid's and fast-reid's compiled evaluators (Market-1501 scale)",
            command_line("benchmarks.evaluation", argv), describe_device(), "```\n" + text + "\n```",
            "Every implementation gives the same CMC and mAP as `evaluate_rank`, checked before timing, twice. "
            "On a copy without ties at true matches (each tied match moved up by one float ulp), where every tie "
            "rule ranks alike: torchreid's Python evaluator to the last bit of mAP, the two Cython evaluators to "
            "~1e-8 (they accumulate AP and mAP in float32), CMC to 3e-8 (all three keep CMC in float32). On the "
            "data as is, a few true matches tie another entry (float32 distances); all three anchors order ties "
            "by numpy's default, unstable `argsort`, `evaluate_rank` by gallery index (a stable sort's order, "
            "documented), which moves the AP of the queries listed above and mAP by ~4e-7. `evaluate_rank` "
            "sorts nothing the size of a row: each true match's rank is a count of the kept entries below it "
            "(comparison passes over a chunk of queries while many entries lie below the hardest matches, "
            "then the gathered entries below the next match only), so its time does not depend on the sort. "
            "The anchors and the sorting twin do: the anchors argsort the whole matrix, then loop over queries "
            f"(in C for the Cython ones), the twin sorts the values of every row; numpy's float32 sort ran at "
            f"{out['sort_ns_per_element']:.1f} ns per element on this machine (numpy {np.__version__}), and "
            "the ratios scale with it: the run of 2026-12-01 (CPU described the same, load 5.7) timed the sorting "
            "version at 0.146 s and torchreid's Cython at 1.6 s, a sort about 6x faster than in the run of "
            "2026-12-04 (17.5 ns per element, sorting version 0.957 s, torchreid's Cython 4.5 s, evaluate_rank "
            "0.207 s: 0.046x torchreid's Cython time)."))
    return out


if __name__ == "__main__":
    main()
