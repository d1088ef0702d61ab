"""The ``admire`` Typer app, its consoles and its error wrapper, shared by the modules that
register commands on it (``cli``, ``ask_tell_cli``), so none of them imports another."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from admire.errors import AdmireError

app = typer.Typer(help="Multi-fidelity Bayesian optimisation of training-data mixtures.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
runs_app = typer.Typer(help="Import, validate and inspect runs tables.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def clear_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print an admire error as one clear line and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AdmireError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                              soft_wrap=True)
            sys.exit(2)

    return wrapper
