"""The ``admire`` command line: thin wrappers that parse options and print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from admire.app.cli_app import app, clear_errors, console, err_console, runs_app
from admire.errors import AdmireError, ValidationError


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _show_version(value: bool) -> None:
    if value:
        from admire import __version__

        console.print(f"admire {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the installed admire version and exit.")] = False,
) -> None:
    """Multi-fidelity Bayesian optimisation of training-data mixtures."""


@app.command("check")
@clear_errors
def check_command(
    config: Annotated[Path, typer.Argument(help="Study config (TOML) for admire tune.")],
) -> None:
    """Validate a study config without running anything; print what it defines."""
    from admire.app.check import check_config, summary_lines

    for line in summary_lines(check_config(config)):
        console.print(line, highlight=False, markup=False)



@runs_app.command("import")
@clear_errors
def runs_import(
    src: Annotated[Path, typer.Argument(help="Wide CSV: one row per run.")],
    out: Annotated[Path, typer.Option("--out", help="Runs table to write (.parquet or .csv).")],
    fidelity_column: Annotated[str, typer.Option(help="Column naming each run's rung.")],
    fidelity_order: Annotated[str, typer.Option(help="Rungs, cheapest first, target last: A,B,C")],
    weight_columns: Annotated[str | None, typer.Option(
        help="Weight columns by name: code,math,web (each name is a domain).")] = None,
    weight_prefix: Annotated[str | None, typer.Option(
        help="Prefix of weight columns, removed from the domain names [default: ratio_, unless "
             "--weight-columns is given]")] = None,
    metric_columns: Annotated[str | None, typer.Option(
        help="Metric columns by name: loss,acc.")] = None,
    metric_prefix: Annotated[str | None, typer.Option(
        help="Prefix of metric columns, removed from the metric names [default: metric_, "
             "unless --metric-columns is given]")] = None,
    cost_column: Annotated[str | None, typer.Option(help="Column holding each run's cost.")] = None,
    rung_cost: Annotated[str | None, typer.Option(help="Fixed cost per rung: A=0.1,B=1")] = None,
    fidelity_values: Annotated[str | None, typer.Option(
        help="Numeric fidelity per rung: A=0.5,B=3 (default: cost / target cost)")] = None,
    run_id_column: Annotated[str | None, typer.Option(
        help="Column of unique run ids to keep (default: <study>-00000, ...).")] = None,
    delimiter: Annotated[str | None, typer.Option(
        help="Field delimiter: ',' ';' '|' or tab (default: detected).")] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: file stem).")] = None,
    weight_tol: Annotated[float, typer.Option(help="Accepted |sum of weights - 1|.")] = 0.01,
) -> None:
    """Import a wide CSV (like ADMIRE IFT Runs) into the runs-table schema.

    Weight and metric columns are chosen by name (--weight-columns, --metric-columns), by
    prefix (--weight-prefix, --metric-prefix), or both; a report lists what was found and what
    was ignored, and flags column names that look like typos.
    """
    from admire.app import importer
    from admire.app.csv_input import parse_delimiter
    from admire.schema import runs

    result = importer.import_wide_csv(
        src, fidelity_column=fidelity_column, fidelity_order=_split(fidelity_order),
        weight_columns=_split(weight_columns) if weight_columns else None,
        weight_prefix=weight_prefix,
        metric_columns=_split(metric_columns) if metric_columns else None,
        metric_prefix=metric_prefix, run_id_column=run_id_column,
        delimiter=parse_delimiter(delimiter), cost_column=cost_column,
        rung_costs=importer.parse_mapping(rung_cost, option="--rung-cost"),
        fidelity_values=importer.parse_mapping(fidelity_values, option="--fidelity-values"),
        study=study, weight_tol=weight_tol)
    try:
        runs.write_runs(result.table, out, rungs=_split(fidelity_order))
    except OSError as exc:
        raise ValidationError(f"cannot write: {exc.strerror or exc}", where=str(out)) from None
    for line in importer.report_lines(result, str(src)):
        console.print(line, highlight=False, markup=False)
    for flag in result.typos:
        err_console.print(f"[yellow]warning:[/] probable typo: {flag}", highlight=False)
    console.print(f"wrote {len(result.table)} runs to {out}", highlight=False)


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
    from admire.schema import runs

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
    minimize: Annotated[bool | None, typer.Option(
        "--minimize/--maximize",
        help="Whether lower or higher --metric is better [default: inferred from the name: "
             "loss, bpb, perplexity/ppl, error, nll are minimised]")] = None,
) -> None:
    """Rows per rung, domains, metrics, and the best value per rung for one metric."""
    from admire.app.metric_direction import metric_direction, study_direction
    from admire.schema import runs

    table = runs.read_runs(path)
    column = None
    if metric:
        try:
            column = runs.resolve_metric(metric, table)
        except ValidationError as exc:
            raise ValidationError(exc.problem, where=f"{path}: --metric") from None
    console.print(f"[bold]{path}[/]: {len(table)} runs")
    console.print(f"domains ({len(runs.domains(table))}): {', '.join(runs.domains(table))}")
    console.print(f"metrics ({len(runs.metrics(table))}): {', '.join(runs.metrics(table))}")
    direction = None
    if column:
        direction = ((minimize is None and study_direction(path, column[2:]))
                     or metric_direction(column[2:], minimize))
    grid = Table("rung", "fidelity", "runs", "mean cost",
                 *([f"best {column[2:]} ({direction.label})"] if column and direction else []))
    order = table.groupby(runs.RUNG, sort=False)[runs.FIDELITY].first().sort_values()
    for rung in order.index:
        rows = table[table[runs.RUNG] == rung]
        cells = [rung, f"{order[rung]:.4g}", str(len(rows)), f"{rows[runs.COST].mean():.4g}"]
        if column and direction:
            values = rows[column].dropna()
            best = values.min() if direction.minimize else values.max()
            cells.append(f"{best:.6f}" if len(values) else "-")
        grid.add_row(*cells)
    console.print(grid)
    if column and direction:
        console.print(direction.describe(column[2:]), highlight=False, markup=False)


def main() -> None:
    """Console entry point: usage errors (a bad option value, a missing argument) print one
    ``error:`` line like every other error, instead of a framed panel."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors, as vendored by typer
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is already printed
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err_console.print(f"[bold red]error:[/] {escape(message + hint)}", highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:  # end of input at a prompt
        err_console.print("aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


@app.command("replay")
@clear_errors
def replay_command(
    table: Annotated[Path, typer.Argument(help="Runs table (.parquet or .csv).")],
    objective: Annotated[str, typer.Option(help="Metric to optimise (with or without m:).")],
    minimize: Annotated[bool, typer.Option(help="Lower is better.")] = False,
    methods: Annotated[str, typer.Option(
        help="Comma-separated policies with options: mfbo (admire's default), "
             "kg:kernel=linear,caution=1, sfbo, random, regmix.")] = "mfbo,sfbo,random,regmix",
    seeds: Annotated[int, typer.Option(help="Seeds 0..N-1, the same for every policy.")] = 10,
    budget: Annotated[float, typer.Option(help="Budget in target-rung runs.")] = 20.0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/replay"),
    workers: Annotated[int, typer.Option(help="Worker processes (0 = one per core).")] = 0,
) -> None:
    """Replay policies on a runs table; write summary.json and regret_vs_cost.png."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from admire.app import replay_plots as report
    from admire.bo.policies.registry import parse_policy, split_specs
    from admire.io import atomic_write_text
    from admire.replay import runner as replay
    from admire.replay.summary import summary_rows
    from admire.schema import runs

    if seeds < 1:
        raise ValidationError(f"must be >= 1, got {seeds}", where="--seeds")
    if not budget > 0:
        raise ValidationError(f"must be > 0, got {budget}", where="--budget")
    method_list = split_specs(methods)
    for spec in method_list:
        parse_policy(spec)  # an unknown policy or option fails before any work
    runs.read_runs(table)  # a bad table fails here, with its row and column
    try:
        out.mkdir(parents=True, exist_ok=True)  # an unusable --out fails before any work
    except OSError as exc:
        raise ValidationError(f"cannot create the output folder: {exc.strerror}",
                              where=f"--out {out}") from None
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("replay", total=len(method_list) * seeds)

        def done(result: replay.SeedResult) -> None:
            final = result.curve[-1][1] if result.curve else float("nan")
            progress.update(task, advance=1,
                            description=f"{result.method} seed {result.seed}: final regret "
                                        f"{final:.4g}")

        summary = replay.replay(table, objective, method_list, range(seeds), budget,
                                minimize=minimize, workers=workers or None, on_result=done)
    path = replay.write_summary(summary, out)
    plot = report.plot_regret_vs_cost(summary, out / "regret_vs_cost.png", problem=table.name)
    command = report.replay_command_line(table, objective, minimize=minimize, methods=methods,
                                         seeds=seeds, budget=budget, out=out)
    atomic_write_text(out / "summary.md",
                      report.summary_markdown(summary, command=command, problem=table.name))
    grid = Table(title=f"{summary['objective']} ({summary['direction']}), best "
                       f"{summary['best_value']:.6g}, budget {budget:g} target runs")
    rows = summary_rows(summary)
    for header in rows[0]:
        grid.add_column(header)
    for row in rows:
        grid.add_row(*[("never" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
                       for v in row.values()])
    Console(width=max(console.width, 150)).print(grid)
    console.print(f"median over {seeds} seeds; costs in target-rung runs")
    console.print(f"wrote {path}, {out / 'summary.md'} and {plot}")


@app.command("tune")
@clear_errors
def tune_command(
    config: Annotated[Path, typer.Argument(help="Study config (TOML).")],
    out: Annotated[Path, typer.Option(help="Folder for the study, runs table and plots.")] = (
        Path("out/tune")),
    resume: Annotated[bool, typer.Option(help="Continue the study saved in --out.")] = False,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to use (host:port or 'auto'); default: an embedded local one.")] = None,
) -> None:
    """Tune a mixture live: Ray actors train proxies on the proposed mixtures."""
    from admire.app.tune import summary_lines, tune

    result = tune(config, out, resume=resume, address=address, console=console)
    for line in summary_lines(result):
        console.print(line, highlight=False, markup=False)


@app.command("submit")
@clear_errors
def submit_command(
    config: Annotated[Path, typer.Argument(help="Study config (TOML), inside --working-dir.")],
    address: Annotated[str, typer.Option(help="Ray dashboard address: http://HOST:8265")],
    out: Annotated[str | None, typer.Option(
        help="Output folder on the head node (default: $HOME/admire-out/<study>).")] = None,
    working_dir: Annotated[Path | None, typer.Option(
        help="Folder uploaded with the job (default: the current folder).")] = None,
    python: Annotated[str | None, typer.Option(
        help="Interpreter on the cluster (default: this one).")] = None,
    resume: Annotated[bool, typer.Option(help="Resume the study saved in --out.")] = False,
) -> None:
    """Submit `admire tune` to a Ray cluster as a Ray job; print how to follow it."""
    from admire.app.submit import plan_job, submit

    plan = plan_job(config, working_dir=working_dir, out=out, python=python, resume=resume)
    job = submit(plan, address)
    console.print(f"submitted study {plan.study!r} as job {job.job_id}", highlight=False)
    console.print(f"entrypoint: {plan.entrypoint}", highlight=False, markup=False)
    console.print(f"follow it:  {job.ray_job('logs', '-f')}", highlight=False, markup=False)
    console.print(f"status:     {job.ray_job('status')}", highlight=False, markup=False)
    if job.head.token is not None:
        console.print(f"auth:       token from {job.head.token.source} (the head uses token "
                      "auth)", highlight=False, markup=False)
    console.print(f"results:    {plan.out} on the head node (admire recommend <that folder>)",
                  highlight=False, markup=False)


@app.command("recommend")
@clear_errors
def recommend_command(
    directory: Annotated[Path, typer.Argument(help="A saved study (admire tune --out).")],
    pool: Annotated[Path | None, typer.Option(
        "--pool", help="Recommend for this data pool instead (TOML: tokens per domain, or "
                       "max_bytes of the built-in corpora); see admire.app.recommend_pool.")
                    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="With --pool: JSON to write [default: DIR/recommendation_pool.json].")
                   ] = None,
    runs_pool: Annotated[Path | None, typer.Option(
        "--runs-pool", help="With --pool: the pool the recorded runs ran under, for runs "
                            "tables without pool: columns.")] = None,
    pool_features: Annotated[str, typer.Option(
        "--pool-features", help="With --pool: epochs (log1p epochs per domain) or "
                                "epochs+tokens (also log pool tokens).")] = "epochs",
) -> None:
    """Print the recommended mixture of a saved study, with its predicted value."""
    if pool is not None:
        _recommend_pool(directory, pool, out, runs_pool, pool_features)
        return
    from admire.study import Study

    study = Study.load(directory)
    rec = study.recommend()
    grid = Table("domain", "weight", title=f"{study.config.name}: recommended mixture at "
                                           f"{rec.rung}")
    for domain, weight in sorted(rec.mixture.items(), key=lambda kv: -kv[1]):
        grid.add_row(domain, f"{weight:.4f}")
    console.print(grid)
    interval = ("" if rec.lower90 is None else
                f" (90% intervals: the mean [{rec.lower90:.5g}, {rec.upper90:.5g}]")
    if rec.run_lower90 is not None:
        interval += f", one new run [{rec.run_lower90:.5g}, {rec.run_upper90:.5g}])"
    elif interval:
        interval += ")"
    console.print(f"predicted {study.metric}: {rec.predicted:.5g}{interval}, from "
                  f"{rec.n_observations} completed trials; spent {study.spent():.2f} "
                  "target-rung runs", highlight=False)
    if rec.interval_note:
        console.print(rec.interval_note, highlight=False, markup=False)
    from admire.app.confirm import confirmation_of
    from admire.app.tune import seed_noise_note
    from admire.schema.config import proxy_seed

    seed = proxy_seed(study.config)
    confirmed = confirmation_of(directory, study, rec.mixture, seed)
    if confirmed is not None or rec.run_lower90 is not None:
        console.print(seed_noise_note(seed, directory, confirmed), highlight=False,
                      markup=False)


def _recommend_pool(directory: Path, pool: Path, out: Path | None, runs_pool: Path | None,
                    features: str) -> None:
    from admire.app.recommend_pool import recommend_for_pool

    rec = recommend_for_pool(directory, pool, out=out, runs_pool=runs_pool,
                             features=features)  # type: ignore[arg-type]
    grid = Table("domain", "weight", "epochs", title=f"{rec['study']}: recommended mixture at "
                                                     f"{rec['rung']} for the pool {pool}")
    for domain, weight in sorted(rec["mixture"].items(), key=lambda kv: -kv[1]):
        grid.add_row(domain, f"{weight:.4f}", f"{rec['epochs'][domain]:.3g}")
    console.print(grid)
    interval = ("" if rec["lower90"] is None else
                f" (90% interval for the mean [{rec['lower90']:.5g}, {rec['upper90']:.5g}])")
    console.print(f"predicted {rec['metric']}: {rec['predicted']:.5g}{interval}, from "
                  f"{rec['n_observations']} completed trials", highlight=False)
    if rec["interval_note"]:
        console.print(rec["interval_note"], highlight=False, markup=False)
    console.print(f"extrapolation: {rec['extrapolation']['summary']}", highlight=False,
                  markup=False)
    console.print(f"wrote {rec['out']}", highlight=False, markup=False)


@app.command("evaluate")
@clear_errors
def evaluate_command(
    directory: Annotated[Path, typer.Argument(help="A saved study (admire tune --out).")],
    mixture: Annotated[list[str], typer.Option(
        "--mixture", help="A mixture to retrain; repeat for several (the others are compared "
                          "with the first): recommended, uniform, natural, a reference of the "
                          "study, domain=weight,... or a JSON file; NAME: in front names it.")],
    seeds: Annotated[int, typer.Option(
        help="Fresh training seeds: the study's [proxy] seed + 1 .. + N.")] = 3,
    rung: Annotated[str | None, typer.Option(help="Rung to train at (default: the target).")
                    ] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to use (host:port or 'auto'); default: an embedded local one.")] = None,
) -> None:
    """Retrain mixtures at a rung of a saved study with seeds it never used; print mean ± sd.

    Results are added to DIR/evaluations.json (pairs already there are not retrained) and drawn
    in objective_vs_cost.png; they never enter the study's experiment or budget.
    """
    from admire.app.evaluate import evaluate, report

    result = evaluate(directory, mixture, seeds, rung=rung, address=address,
                      on_result=lambda line: console.print(line, highlight=False, markup=False))
    for item in report(result):
        console.print(item, highlight=False, markup=False)
    if result.failures:
        raise AdmireError(f"{len(result.failures)} evaluation(s) failed; run the command again "
                          "to retry them")


import admire.app.ask_tell_cli  # noqa: E402, F401, I001  (registers init, ask and tell)
import admire.app.explain_cli  # noqa: E402, F401, I001  (registers explain)
