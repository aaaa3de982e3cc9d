"""iovsim-sweep: parameter sweeps of the iovsim simulator, run locally, on Dask or through Slurm.

The core (grid expansion, point bookkeeping, the local executor, results.csv) uses only the
standard library, so it runs on any python3; plotting needs matplotlib and the Dask executor needs
distributed, both taken from the system Python (/usr/bin/python3) when the current one lacks them.
"""

__version__ = "0.1.0"
