"""The course's shared pieces: the demo model the notebooks load, and the ablation sweeps.

* :func:`demo_model`, :func:`demo_config` (:mod:`.demo`): a small IANet-R18 trained once on synthetic
  pedestrians (``python -m ianet_viz.course.demo``), loaded by notebooks 01 and 03-06.
* :func:`course_model` (:mod:`.notebook_model`): the model notebooks 04-06 look at, the demo model unless
  ``IANET_MODEL`` names another (``paper``, a run folder, a weights file).
* :func:`side_by_side` (:mod:`.compare`): the model of notebooks 04-06 beside the paper-literal model.
* :func:`run_sweep`, :func:`sweep_config`, :func:`summarise`, :func:`read_results`,
  ``SWEEP_SCALES`` (:mod:`.sweep`): seeds x configurations, for notebooks 05, 06 and
  ``benchmarks.experiments``.
* :mod:`.protocols`: the paper's protocols of Fig. 7 and Tab. 4a-c (one SIA block after stage 3, paired
  seeds, differences to the baseline with 95 % CIs), for notebooks 05, 06 and ``benchmarks.protocols``.
* :func:`benchmark_select` (:mod:`.timing`): how long a click on the viewer takes.
* :func:`mechanism_report`, :func:`monitor` (:mod:`.mechanism`): do the IA gates open, does SIA
  gather, does it gather a body part; per block, logged over training by ``train(..., monitor=...)``.
"""
from .notebook_model import CourseModel, course_model
from .compare import side_by_side
from .demo import demo_config, demo_model, paper_model
from .mechanism import mechanism_report, monitor
from .sweep import SWEEP_SCALES, read_results, run_sweep, summarise, sweep_config
from .timing import benchmark_select

__all__ = ["course_model", "CourseModel", "side_by_side", "demo_config", "demo_model", "paper_model", "SWEEP_SCALES", "sweep_config",
           "run_sweep", "summarise", "read_results", "benchmark_select", "mechanism_report", "monitor"]
