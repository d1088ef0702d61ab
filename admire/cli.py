"""The ``admire`` command line: thin wrappers that parse options and print."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

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
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@runs_app.command("import")
@clear_errors
def runs_import(
    src: Annotated[Path, typer.Argument(help="Wide CSV: one row per run.")],
    out: Annotated[Path, typer.Option("--out", help="Runs table to write (.parquet or .csv).")],
    fidelity_column: Annotated[str, typer.Option(help="Column naming each run's rung.")],
    fidelity_order: Annotated[str, typer.Option(help="Rungs, cheapest first, target last: A,B,C")],
    weight_prefix: Annotated[str, typer.Option(help="Prefix of weight columns.")] = "ratio_",
    metric_prefix: Annotated[str, typer.Option(help="Prefix of metric columns.")] = "metric_",
    cost_column: Annotated[str | None, typer.Option(help="Column holding each run's cost.")] = None,
    rung_cost: Annotated[str | None, typer.Option(help="Fixed cost per rung: A=0.1,B=1")] = None,
    fidelity_values: Annotated[str | None, typer.Option(
        help="Numeric fidelity per rung: A=0.5,B=3 (default: cost / target cost)")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: file stem).")] = None,
    weight_tol: Annotated[float, typer.Option(help="Accepted |sum of weights - 1|.")] = 0.01,
) -> None:
    """Import a wide CSV (like ADMIRE IFT Runs) into the runs-table schema."""
    from admire import importer, runs

    result = importer.import_wide_csv(
        src, fidelity_column=fidelity_column, fidelity_order=_split(fidelity_order),
        weight_prefix=weight_prefix, metric_prefix=metric_prefix, cost_column=cost_column,
        rung_costs=importer.parse_mapping(rung_cost, option="--rung-cost"),
        fidelity_values=importer.parse_mapping(fidelity_values, option="--fidelity-values"),
        study=study, weight_tol=weight_tol)
    runs.write_runs(result.table, out, rungs=_split(fidelity_order))
    console.print(f"wrote {len(result.table)} runs to {out}")
    _print_report(result.report)
    fids = ", ".join(f"{k}={v:.4g}" for k, v in result.rung_fidelity.items())
    console.print(f"fidelity per rung: {fids}")
    if result.ignored_columns:
        console.print(f"ignored columns: {', '.join(result.ignored_columns)}")


def _print_report(report: Any) -> None:
    if report.renormalized_rows:
        console.print(f"renormalized {report.renormalized_rows} weight rows; largest deviation "
                      f"from 1 was {report.max_weight_deviation:.3g}")


@runs_app.command("validate")
@clear_errors
def runs_validate(
    path: Annotated[Path, typer.Argument(help="Runs table (.parquet or .csv).")],
    rungs: Annotated[str | None, typer.Option(help="Allowed rungs: A,B,C")] = None,
    weight_tol: Annotated[float, typer.Option(help="Accepted |sum of weights - 1|.")] = 0.01,
) -> None:
    """Check a runs table against the schema; exit 2 with the row and column on error."""
    from admire import runs

    raw = runs.read_raw(path)
    table, report = runs.validate_runs(raw, source=str(path),
                                       rungs=_split(rungs) if rungs else None,
                                       weight_tol=weight_tol)
    console.print(f"{path}: valid, {len(table)} runs, {len(runs.domains(table))} domains, "
                  f"{len(runs.metrics(table))} metrics")
    _print_report(report)


@runs_app.command("info")
@clear_errors
def runs_info(
    path: Annotated[Path, typer.Argument(help="Runs table (.parquet or .csv).")],
    metric: Annotated[str | None, typer.Option(help="Metric for the best value per rung.")] = None,
    minimize: Annotated[bool, typer.Option(help="Lower is better for --metric.")] = False,
) -> None:
    """Rows per rung, domains, metrics, and the best value per rung for one metric."""
    from admire import runs

    table = runs.read_runs(path)
    console.print(f"[bold]{path}[/]: {len(table)} runs")
    console.print(f"domains ({len(runs.domains(table))}): {', '.join(runs.domains(table))}")
    console.print(f"metrics ({len(runs.metrics(table))}): {', '.join(runs.metrics(table))}")
    column = runs.resolve_metric(metric, table) if metric else None
    grid = Table("rung", "fidelity", "runs", "mean cost",
                 *([f"best {column[2:]} ({'min' if minimize else 'max'})"] if column else []))
    order = table.groupby(runs.RUNG, sort=False)[runs.FIDELITY].first().sort_values()
    for rung in order.index:
        rows = table[table[runs.RUNG] == rung]
        cells = [rung, f"{order[rung]:.4g}", str(len(rows)), f"{rows[runs.COST].mean():.4g}"]
        if column:
            values = rows[column].dropna()
            best = values.min() if minimize else values.max()
            cells.append(f"{best:.6f}" if len(values) else "-")
        grid.add_row(*cells)
    console.print(grid)


def main() -> None:  # pragma: no cover - console entry point
    app()
