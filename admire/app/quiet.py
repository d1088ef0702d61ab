"""Known-harmless warnings and notices from the libraries admire drives, hidden at their source.

Each filter matches one message by its text (and category or logger), so anything else a library
says still shows. ``install()`` runs when the ``admire`` package is imported, which every admire
process does first: the CLI, replay's worker processes (started with ``spawn``, they import
``admire.replay.runner``), and a notebook. What each filter hides, which call triggers it, and
why it is harmless:

* torch ``UserWarning: Sparse invariant checks are implicitly disabled ...``: raised once per
  process by ``torch.sparse_coo_tensor`` when ``linear_operator.utils.interpolation``
  (``left_interp`` / ``left_t_interp``) builds the task-index matrix of gpytorch's
  ``IndexKernel``, i.e. whenever the multi-task GP (the ``icm`` surrogate) is fitted or predicts;
  BoTorch's ``fit_gpytorch_mll`` re-emits it after the fit. linear_operator builds those indices
  itself, valid by construction, and the checks it mentions are off by default anyway: the
  warning only asks callers to state that choice.
* Ray ``Started a local Ray instance.`` (``ray._private.worker``, INFO, logged by ``ray.init``
  when ``admire tune`` starts its embedded cluster): the live view already says where trials
  run.
* Ray ``Token authentication is enabled for this Ray cluster ...`` (WARNING from
  ``ray._private.authentication.authentication_token_setup``, logged by ``ray.init`` for a new
  local cluster): it announces Ray's secure default, which admire keeps; nothing is wrong.

Left visible on purpose: Ray's ``Generated new authentication token and saved to ...`` (once per
machine; it tells the user a file was written to their home folder).
"""

from __future__ import annotations

import logging
import warnings

WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    ("Sparse invariant checks are implicitly disabled", UserWarning),
)
LOG_MESSAGES: dict[str, tuple[str, ...]] = {
    "ray._private.worker": ("Started a local Ray instance.",),
    "ray._private.authentication.authentication_token_setup": (
        "Token authentication is enabled for this Ray cluster",),
}


class _DropMessages(logging.Filter):
    """Drops records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def install() -> None:
    """Add the filters (idempotent). Loggers are named, not imported: Ray is not loaded here."""
    for message, category in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, prefixes in LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(prefixes))
