"""``admire explain``: the CLI face of :mod:`admire.app.explain` (which does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from admire.app.cli_app import app, clear_errors, console
from admire.errors import ValidationError


@app.command("explain")
@clear_errors
def explain_command(
    source: Annotated[Path, typer.Argument(
        help="A finished study folder (admire tune --out) or a runs table (.parquet/.csv).")],
    out: Annotated[Path, typer.Option(help="Folder for explain.json, explain.md and plots.")],
    objective: Annotated[str | None, typer.Option(
        help="Metric to explain (default: the study's objective, or the table's only one).")
                         ] = None,
    rung: Annotated[str | None, typer.Option(help="Rung to explain (default: the target).")
                    ] = None,
    minimize: Annotated[bool | None, typer.Option(
        "--minimize/--maximize", help="Whether lower is better (default: the study's, or "
                                      "inferred from the metric's name).")] = None,
    points: Annotated[int, typer.Option(help="Sobol mixtures the simplex average uses.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the fit and the Sobol mixtures.")] = 0,
) -> None:
    """Explain a study or runs table: per-domain effects, interactions, rung correlation,
    cross-validated predictions and the budget, with plain-language caveats."""
    from admire.app.explain import explain, write_explanation

    if points < 1:
        raise ValidationError(f"must be >= 1, got {points}", where="--points")
    result = explain(source, objective=objective, rung=rung, minimize=minimize,
                     n_points=points, seed=seed)
    try:
        paths = write_explanation(result, out)
    except OSError as exc:
        raise ValidationError(f"cannot write: {exc.strerror or exc}", where=f"--out {out}"
                              ) from None
    cv = result.cv
    console.print(f"{result.header['objective']} at {result.header['rung']}: "
                  f"cross-validated R² {cv['r2']:.2f}, Spearman {cv['spearman']:.2f}, "
                  f"90% coverage {cv['coverage90']:.0%} ({cv['n']} runs)", highlight=False,
                  markup=False)
    for line in result.caveats:
        console.print(f"caveat: {line}", highlight=False, markup=False)
    console.print(f"wrote {', '.join(p.name for p in paths)} to {out}", highlight=False,
                  markup=False)
