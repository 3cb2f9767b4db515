"""``python -m ianet_viz.train``: the command line of :mod:`ianet_viz.train.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
