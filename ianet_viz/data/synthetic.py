"""Alias of :mod:`ianet_viz.synthetic`: ``python -m ianet_viz.data.synthetic`` keeps working."""
import sys

from ..synthetic import *  # noqa: F401,F403
from ..synthetic import __all__  # noqa: F401
from ..synthetic.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
