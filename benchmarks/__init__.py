"""Benchmarks and experiments of ianet_viz (issue 6).

Every script runs as ``python -m benchmarks.NAME`` from the repository root, takes ``--quick``
(tiny sizes, seconds) and ``--write`` (refresh its section of ``benchmarks/RESULTS.md``), and
prints a table. The slow references they compare against are :mod:`ianet_viz.reference`; the
training sweeps share :func:`ianet_viz.course.sweep.train_or_resume` with the notebooks. Timings are ratios of interleaved runs (median of
paired ratios), so a shared, noisy machine still gives a usable number; absolute times always
come with the device string. None of this is a timed test: ``tests/test_benchmarks.py`` only
smoke-runs the scripts.
"""
