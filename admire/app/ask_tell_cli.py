"""``admire init``, ``admire ask`` and ``admire tell``: the ask/tell commands of the CLI
(:mod:`admire.app.ask_tell` does the work)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from admire.app.cli_app import app, clear_errors, console, err_console


@app.command("init")
@clear_errors
def init_command(
    config: Annotated[Path, typer.Argument(help="Study config (TOML).")],
    out: Annotated[Path, typer.Option(help="Folder for the new study.")],
) -> None:
    """Create a study in --out without running anything, for admire ask / admire tell."""
    from admire.app.ask_tell import init_study

    study = init_study(config, out)
    console.print(f"created study {study.config.name!r} in {out}: ask for trials with "
                  f"`admire ask {out}`", highlight=False, markup=False)


@app.command("ask")
@clear_errors
def ask_command(
    directory: Annotated[Path, typer.Argument(help="A saved study (admire init / tune --out).")],
    n: Annotated[int, typer.Option("-n", help="How many trials to hand out.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Propose the next trials of a saved study, mark them running and save it.

    Train each one yourself, then record it with `admire tell DIR TRIAL`. Safe to call from
    several processes at once. Hands out nothing (and says why) once the budget is reached, or
    "for now" while running trials hold what is left of it (--json: "retry": true).
    """
    from admire.app.ask_tell import ask

    result = ask(directory, n)
    if as_json:
        print(json.dumps({"trials": [t.to_dict() for t in result.trials],
                          "stopped": result.stopped, "retry": result.retry}))
        return
    for t in result.trials:
        mixture = ", ".join(f"{d}={w:.6g}" for d, w in t.mixture.items())
        console.print(f"trial {t.trial}  rung {t.rung}  seed {t.seed}  mixture {mixture}",
                      highlight=False, markup=False)
    if result.stopped:
        now = " for now" if result.retry else ""
        err_console.print(f"no more trials{now}: {result.stopped}", highlight=False,
                          markup=False)


@app.command("tell")
@clear_errors
def tell_command(
    directory: Annotated[Path, typer.Argument(help="The study the trial came from.")],
    trial: Annotated[int, typer.Argument(help="Trial index, as admire ask printed it.")],
    metrics: Annotated[Path | None, typer.Option(
        help="JSON object of metrics ({\"name\": number}; may hold \"cost\").")] = None,
    cost: Annotated[float | None, typer.Option(
        help="What the trial cost, in the unit of the rungs' cost_estimate.")] = None,
    failed: Annotated[str | None, typer.Option(help="The trial failed: the reason.")] = None,
) -> None:
    """Record a trial handed out by admire ask: its metrics and cost, or --failed REASON."""
    from admire.app.ask_tell import tell

    study = tell(directory, trial, metrics=metrics, cost=cost, failed=failed)
    budget = study.budget.total
    spent = f"{study.spent():.3g}" + (f" of {budget:g}" if budget is not None else "")
    what = "failed" if failed is not None else "completed"
    console.print(f"trial {trial} {what}; spent {spent} target-rung runs", highlight=False,
                  markup=False)
