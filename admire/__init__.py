"""admire: multi-fidelity Bayesian optimisation of training-data mixtures."""

from importlib.metadata import PackageNotFoundError, version

from admire.app import quiet as _quiet

try:
    __version__ = version("admire")  # one source of truth: pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

# Every admire process (the CLI, replay's spawned workers, a notebook) imports this package first,
# so known-harmless library warnings are hidden here once; see admire/app/quiet.py.
_quiet.install()
