"""explain.md: the explanation as a person reads it, caveats first-class, numbers rounded."""

from __future__ import annotations

from typing import Any

from admire.app.explain import Explanation


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "nan" if number != number else f"{number:.{digits}g}"


def _interval(row: dict[str, Any]) -> str:
    return f"{_f(row['mean'])} [{_f(row['lower90'])}, {_f(row['upper90'])}]"


def markdown(result: Explanation, plots: list[str]) -> str:
    """The whole report; ``plots`` are the PNG names written beside it."""
    h, rec, cv = result.header, result.recommendation, result.cv
    lines = [f"# Explanation: {h['objective']} ({h['direction']}) at rung {h['rung']}", "",
             f"- source: `{h['source']}` ({h['kind']})",
             f"- objective: {h['objective']}, {h['direction']} ({h['direction_reason']})",
             f"- rung explained: {h['rung']} of {', '.join(h['rungs'])}; "
             f"{h['n_runs_at_rung']} runs there, {h['n_runs']} completed runs in all",
             f"- model: {h['surrogate']} surrogate, {h['kernel']} kernel, fitted as the default "
             f"policy fits it (seed {h['seed']}); 90% intervals widened by the leave-one-out "
             f"scale {_f(h['interval_scale'], 3)}", ""]
    lines += ["## Caveats", ""]
    lines += [f"- {c}" for c in result.caveats] or ["- none: the model cross-validates well and "
                                                   "its effects are clear"]
    lines += ["", "## Recommendation", "",
              f"{rec['basis']}: predicted {h['objective']} {_f(rec['predicted'])} "
              f"(posterior sd {_f(rec['sd'], 3)})", "",
              "| domain | weight |", "|---|---|"]
    lines += [f"| {d} | {w:.4f} |" for d, w in sorted(rec["mixture"].items(),
                                                      key=lambda kv: -kv[1]) if w > 5e-5]
    lines += ["", "## Per-domain effects", "",
              f"Units: {h['units']}; mean [90% interval]. Averaged over {h['average_over']}; "
              "the average's interval uses the mean of the per-mixture posterior sds, a bound "
              "that holds however the model's errors correlate across mixtures. "
              "`helps`/`hurts` account for the direction; `unclear`: the interval includes 0.",
              "", "| domain | around the recommendation | | average over the simplex | |",
              "|---|---|---|---|---|"]
    ranked = sorted(result.effects, key=lambda r: -abs(r["average"]["mean"]))
    for r in ranked:
        a, m = r["at_recommendation"], r["average"]
        lines.append(f"| {r['domain']} | {_interval(a)} | {a['verdict']} | {_interval(m)} | "
                     f"{m['verdict']} |")
    inter = result.interactions
    lines += ["", "## Largest pairwise interactions (average over the simplex)", "",
              f"Units: {h['interaction_units']}. Full K x K matrix in explain.json.", "",
              "| d | e | interaction [90%] | clear |", "|---|---|---|---|"]
    lines += [f"| {p['d']} | {p['e']} | {_interval(p)} | {'yes' if p['clear'] else 'no'} |"
              for p in inter["top"]]
    corr = result.rung_correlation
    lines += ["", "## Rung-to-rung correlation", "",
              "| rungs | learned (ICM) | observed Spearman | mixtures at both |",
              "|---|---|---|---|"]
    for p in corr["observed"]:
        a, b = corr["rungs"].index(p["rung_a"]), corr["rungs"].index(p["rung_b"])
        learned = "-" if corr["learned"] is None else _f(corr["learned"][a][b], 3)
        lines.append(f"| {p['rung_a']} vs {p['rung_b']} | {learned} | {_f(p['spearman'], 3)} | "
                     f"{p['n_mixtures']} |")
    lines += ["", f"## Cross-validated predictions at {h['rung']}", "",
              f"Leave-one-mixture-out (each mixture's runs left out at every rung): "
              f"R² {_f(cv['r2'], 3)}, Spearman {_f(cv['spearman'], 3)}, coverage of "
              f"{cv['interval']} {_f(cv['coverage90'], 3)} over {cv['n']} runs.", ""]
    b = result.budget
    lines += ["## How the budget was spent", "",
              "| rung | runs | completed | cost | share |", "|---|---|---|---|---|"]
    lines += [f"| {r['rung']} | {r['runs']} | {r['completed']} | {_f(r['cost'], 5)} | "
              f"{_f(100 * r['share'], 3)}% |" for r in b["per_rung"]]
    lines += ["", f"Total cost {_f(b['total_cost'], 5)} (the table's cost units); cumulative "
                  f"curves in {b['order']}.", "", "## Plots", ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
