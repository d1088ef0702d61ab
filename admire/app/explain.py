"""``admire explain``: why the model believes what it recommends, in numbers a person can check.

    from admire.app.explain import explain, write_explanation
    result = explain("runs_dataset/admire_ift_runs.parquet", objective="avg_id+ood")
    write_explanation(result, "out/explain")     # explain.json, explain.md, five PNGs

The surrogate is fitted as the default policy fits it (:class:`SurrogateFit` on the completed
runs, the policy's model options) and read at one rung: per-domain effects around the
recommendation and averaged over the simplex, pairwise interactions, the learned rung
correlation against the observed one, leave-one-mixture-out predictions, and where the budget
went. Intervals are the GP's 90% intervals widened by the same leave-one-out scale the
recommendation uses; an effect whose interval holds 0 is called unclear.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from admire.app.explain_source import Source, check_rung_has_runs, load_source
from admire.bo import effects as fx
from admire.bo.acquisition import best_predicted
from admire.bo.fitting import SurrogateFit
from admire.bo.seeding import torch_seeded
from admire.bo.surrogate import MixtureSurrogate
from admire.schema import runs
from admire.space import MixtureSpace

N_POINTS = 64  # Sobol mixtures the simplex average is taken over
MIN_RUNS = 10  # fewer runs at the explained rung than this earns a caveat
MIN_SPEARMAN = 0.3  # cross-validated rank correlation below this earns a warning
MIN_COVERAGE = 0.8  # the GP's own 90% intervals covering less than this earns a caveat
CORR_GAP = 0.3  # learned vs observed rung correlation further apart than this earns a note
UNITS = "objective change per +0.1 weight moved onto the domain from the others (in proportion)"
INTERACTION_UNITS = "change of d's effect (per +0.1) per +0.1 weight on e"


@dataclass
class Explanation:
    """Everything ``admire explain`` reports; ``to_dict`` is explain.json."""

    header: dict[str, Any]
    recommendation: dict[str, Any]
    effects: list[dict[str, Any]]
    interactions: dict[str, Any]
    rung_correlation: dict[str, Any]
    cv: dict[str, Any]
    budget: dict[str, Any]
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays as Python numbers and lists, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def fit_surrogate(source: Source) -> MixtureSurrogate:
    """The default policy's fit (same options, seeded schedule, hyperparameter subset)."""
    obs = source.observations()
    opts = source.options
    surrogate = opts.build_surrogate(opts.input_bounds(source.lower, source.upper))
    fidelity = source.table.groupby(runs.RUNG)[runs.FIDELITY].first()
    rung_fidelity = tuple(float(fidelity.get(r, i + 1)) for i, r in enumerate(source.rungs))
    return SurrogateFit(surrogate, rung_fidelity, source.seed).fit(obs)


def _recommend(source: Source, surrogate: MixtureSurrogate) -> tuple[np.ndarray, str]:
    """The study's own recommendation at this rung, else the best predicted mixture among
    those run at the rung (the default policy's rule)."""
    if source.recommended is not None:
        return np.array([source.recommended[d] for d in source.domains]), "the study's"
    obs = source.observations()
    mixtures = np.unique(obs.weights[obs.rung == source.rung], axis=0)
    i, _, _ = best_predicted(surrogate, mixtures, source.rung, sd=False)
    return mixtures[i], "best predicted mixture run at this rung"


def _signed(est: fx.Estimate, sign: float) -> fx.Estimate:
    return fx.Estimate(sign * est.mean, est.sd, est.scale, est.joint_sd)


def _verdict(mean: float, clear: bool, minimize: bool) -> str:
    if not clear:
        return "unclear"
    return "helps" if (mean < 0) == minimize else "hurts"


def _effect_rows(domains: list[str], around: fx.Estimate, average: fx.Estimate,
                 minimize: bool) -> list[dict[str, Any]]:
    rows = []
    for j, d in enumerate(domains):
        row: dict[str, Any] = {"domain": d}
        for name, est in (("at_recommendation", around), ("average", average)):
            row[name] = {"mean": est.mean[j], "lower90": est.lower90[j],
                         "upper90": est.upper90[j], "sd": est.sd[j],
                         "joint_sd": None if est.joint_sd is None else est.joint_sd[j],
                         "verdict": _verdict(float(est.mean[j]), bool(est.clear[j]), minimize)}
        rows.append(row)
    return rows


def observed_rung_spearman(source: Source) -> list[dict[str, Any]]:
    """Spearman between every pair of rungs over the mixtures run at both (replicates
    averaged per mixture and rung)."""
    done = source.completed()
    keys = runs.mixture_keys(done)
    means = done.groupby([keys, done[runs.RUNG]])[source.objective].mean().unstack()
    out = []
    for i, a in enumerate(source.rungs):
        for b in source.rungs[i + 1:]:
            both = (means[[a, b]].dropna() if a in means and b in means
                    else pd.DataFrame(columns=[a, b]))
            rho = (float(spearmanr(both[a], both[b]).statistic) if len(both) >= 3
                   else float("nan"))
            out.append({"rung_a": a, "rung_b": b, "n_mixtures": len(both), "spearman": rho})
    return out


def cross_validation(source: Source, surrogate: MixtureSurrogate) -> dict[str, Any]:
    """Leave-one-mixture-out predictions at the rung: R², Spearman, 90% coverage."""
    loo = fx.loo_predictions(surrogate, source.rung)
    sign = -1.0 if source.minimize else 1.0
    done = source.completed()
    actual = sign * surrogate.data.y[loo.index]
    mean = sign * loo.mean
    lo, hi = mean - fx.Z90 * loo.sd, mean + fx.Z90 * loo.sd
    n = len(actual)
    spread = float(((actual - actual.mean()) ** 2).sum()) if n else 0.0
    r2 = 1 - float(((actual - mean) ** 2).sum()) / spread if spread > 0 else float("nan")
    rho = float(spearmanr(actual, mean).statistic) if n >= 3 else float("nan")
    return {"n": n, "r2": r2, "spearman": rho,
            "coverage90": float(((actual >= lo) & (actual <= hi)).mean()) if n else float("nan"),
            "interval": "the GP's own 90% interval for a new run (not widened)",
            "points": [{"run_id": str(done[runs.RUN_ID].iloc[i]), "actual": a, "predicted": m,
                        "lower90": lw, "upper90": up}
                       for i, a, m, lw, up in zip(loo.index, actual, mean, lo, hi, strict=True)]}


def budget(source: Source) -> dict[str, Any]:
    """Runs and cost per rung, and cost accumulated per rung in run order (started_at when
    every run has one, else the table's order)."""
    t = source.table
    per_rung = []
    total = float(t[runs.COST].sum())
    for r in source.rungs:
        rows = t[t[runs.RUNG] == r]
        cost = float(rows[runs.COST].sum())
        per_rung.append({"rung": r, "runs": len(rows),
                         "completed": int((rows[runs.STATUS] == runs.COMPLETED).sum()),
                         "cost": cost, "share": cost / total if total > 0 else float("nan")})
    timed = t[runs.STARTED_AT].notna().all() and len(t)
    ordered = t.sort_values(runs.STARTED_AT, kind="stable") if timed else t
    cumulative = {r: np.cumsum(np.where(ordered[runs.RUNG] == r, ordered[runs.COST], 0.0))
                  for r in source.rungs}
    return {"per_rung": per_rung, "total_cost": total,
            "order": "started_at" if timed else "table order", "cumulative": cumulative}


def _caveats(source: Source, n_at: int, rows: list[dict[str, Any]], inter: fx.Estimate,
             cv: dict[str, Any], corr: dict[str, Any]) -> list[str]:
    out = []
    if n_at < MIN_RUNS:
        out.append(f"only {n_at} runs at rung {source.rung_name}: every number below rests on "
                   "few points")
    rho = cv["spearman"]
    if not np.isfinite(rho) or rho < MIN_SPEARMAN:
        out.append(f"WARNING: cross-validated Spearman at {source.rung_name} is "
                   f"{rho:.2f} (< {MIN_SPEARMAN}): the model ranks mixtures it has not seen "
                   "poorly here; read the effects as hypotheses, not findings")
    if np.isfinite(cv["coverage90"]) and cv["coverage90"] < MIN_COVERAGE:
        out.append(f"the GP's own 90% intervals covered {cv['coverage90']:.0%} of held-out "
                   f"runs; intervals here are widened by {corr['interval_scale']:.2f}x for that")
    for where in ("at_recommendation", "average"):
        unclear = [r["domain"] for r in rows if r[where]["verdict"] == "unclear"]
        if unclear:
            shown = ", ".join(unclear[:8]) + (", ..." if len(unclear) > 8 else "")
            out.append(f"{len(unclear)} of {len(rows)} effects ({where.replace('_', ' ')}) are "
                       f"unclear (their 90% interval includes 0): {shown}")
    joint = [r["domain"] for r in rows if r["average"]["verdict"] == "unclear"
             and r["average"]["joint_sd"] is not None
             and abs(r["average"]["mean"]) > fx.Z90 * r["average"]["joint_sd"]
             * corr["interval_scale"]]
    if joint:
        out.append(f"{len(joint)} unclear average effects would be clear under the joint "
                   "posterior's narrower interval, which assumes the model's errors cancel "
                   "across mixtures (true on smooth synthetic laws, false on a planted linear "
                   f"one: bench/results/explain_coverage.md): {', '.join(joint)}")
    if not inter.clear[np.triu_indices(len(rows), 1)].any():
        out.append("no pairwise interaction is clear (every 90% interval includes 0)")
    learned = corr["learned"]
    for pair in corr["observed"]:
        if learned is None or not np.isfinite(pair["spearman"]):
            continue
        a, b = source.rungs.index(pair["rung_a"]), source.rungs.index(pair["rung_b"])
        if abs(learned[a][b] - pair["spearman"]) > CORR_GAP:
            out.append(f"the learned correlation of {pair['rung_a']} and {pair['rung_b']} "
                       f"({learned[a][b]:.2f}) is far from the observed Spearman "
                       f"({pair['spearman']:.2f}, {pair['n_mixtures']} mixtures)")
    return out


def explain(path: str | Path, *, objective: str | None = None, rung: str | None = None,
            minimize: bool | None = None, n_points: int = N_POINTS, seed: int = 0,
            step: float = fx.STEP) -> Explanation:
    """Fit the surrogate on a study folder or runs table and explain it at ``rung``
    (default: the target, the top rung)."""
    source = load_source(path, objective=objective, minimize=minimize, rung=rung)
    n_at = check_rung_has_runs(source)
    with torch_seeded(seed):
        surrogate = fit_surrogate(source)
    sign = -1.0 if source.minimize else 1.0
    scale = surrogate.interval_scale(source.rung)
    rec, basis = _recommend(source, surrogate)
    predicted, var = surrogate.predict(rec, source.rung)
    space = MixtureSpace(tuple(source.domains), tuple(source.lower), tuple(source.upper))
    bases = space.sobol(n_points, seed=seed)
    around = _signed(fx.effects(surrogate, rec, source.rung, step=step, scale=scale), sign)
    average = _signed(fx.effects(surrogate, bases, source.rung, step=step, scale=scale,
                                  conservative=True), sign)
    inter = _signed(fx.interactions(surrogate, bases, source.rung, step=step, scale=scale,
                                    conservative=True), sign)
    rows = _effect_rows(source.domains, around, average, source.minimize)
    learned = surrogate.rung_correlation()
    corr = {"rungs": list(source.rungs), "learned": None if learned is None else learned.tolist(),
            "observed": observed_rung_spearman(source), "interval_scale": scale}
    cv = cross_validation(source, surrogate)
    header = {"source": str(source.path), "kind": source.kind, "objective": source.metric,
              "direction": "minimize" if source.minimize else "maximize",
              "direction_reason": source.direction, "rung": source.rung_name,
              "rungs": list(source.rungs), "n_runs": len(source.completed()),
              "n_runs_at_rung": n_at, "domains": source.domains,
              "surrogate": source.options.surrogate, "kernel": source.options.kernel,
              "units": UNITS, "interaction_units": INTERACTION_UNITS, "step": step,
              "n_points": n_points, "seed": seed, "interval_scale": scale,
              "average_sd": "mean of the per-mixture posterior sds (a bound whatever the "
                            "correlation; joint_sd is the joint posterior's own)",
              "average_over": f"{n_points} Sobol mixtures within the bounds "
                              f"(lower {np.round(source.lower, 3).tolist()}, upper "
                              f"{np.round(source.upper, 3).tolist()})"}
    recommendation = {"mixture": dict(zip(source.domains, rec.tolist(), strict=True)),
                      "basis": basis, "predicted": sign * float(predicted[0]),
                      "sd": float(np.sqrt(var[0]))}
    interactions = {"domains": source.domains, "mean": inter.mean, "sd": inter.sd,
                    "joint_sd": inter.joint_sd, "lower90": inter.lower90,
                    "upper90": inter.upper90, "clear": inter.clear,
                    "top": _top_pairs(source.domains, inter)}
    caveats = _caveats(source, n_at, rows, inter, cv, corr)
    return Explanation(header, recommendation, rows, interactions, corr, cv, budget(source),
                       caveats)


def _top_pairs(domains: list[str], inter: fx.Estimate, n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` largest interactions by |mean|."""
    i, j = np.triu_indices(len(domains), 1)
    order = np.argsort(-np.abs(inter.mean[i, j]))[:n]
    return [{"d": domains[i[o]], "e": domains[j[o]], "mean": inter.mean[i[o], j[o]],
             "lower90": inter.lower90[i[o], j[o]], "upper90": inter.upper90[i[o], j[o]],
             "clear": bool(inter.clear[i[o], j[o]])} for o in order]


def write_explanation(result: Explanation, out: str | Path) -> list[Path]:
    """explain.json, explain.md and the plots in ``out``; returns the paths written."""
    from admire.app.explain_plots import write_plots
    from admire.app.explain_report import markdown
    from admire.io import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [atomic_write_json(out / "explain.json", result.to_dict(), indent=1)]
    pngs = write_plots(result, out)
    paths.append(atomic_write_text(out / "explain.md", markdown(result, [p.name for p in pngs])))
    return paths + pngs
