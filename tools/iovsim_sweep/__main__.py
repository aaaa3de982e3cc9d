"""`python3 -m iovsim_sweep ...`: the same as tools/iovsim-sweep."""
import os
import sys

if not __package__:
    # Run as a file (python3 tools/iovsim_sweep/__main__.py): make the package importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from iovsim_sweep.cli import main  # noqa: E402

sys.exit(main())
