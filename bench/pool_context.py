"""Does the data pool's state as context help recommend for a new pool? (CausalMix, issue 13)

Per seed: a synthetic problem with pool sizes (:mod:`admire.problems.pool_states`: repeated
tokens are worth less, so the best mixture depends on the pool), earlier studies under
constrained pool states (``--old-scales``: the base pool x 0.1 and x 0.3 by default; small
domains are repeated for many epochs), each with ``--cheap`` runs at the cheapest rung and
``--target`` at the target, seed noise included. Then a recommendation for a new pool, and
its regret (true target loss under the new pool minus the new pool's optimum), for:

* ``covariates``: the multi-task GP with the pool features (log1p epochs per domain) as kernel
  inputs, predicting under the new pool (:mod:`admire.bo.pool_context`);
* ``covariates+tokens``: the same plus log pool tokens per domain;
* ``mixture-only``: the same GP on the weights alone (every run pooled, pool ignored);
* ``reuse-old-best``: the best observed target mixture of the latest study, as it is.

New pools: ``larger`` (10x the latest study's pool) and ``shrunk`` (the
latest study's pool with its most-used domain, by the old best mixture, 10x smaller). Same
seeds for every method; every GP is the policy's (``--rung-scale``: its rung_scale, the
default policy's unless given). Writes ``bench/results/NAME.{json,md,png}`` (``--name``,
default ``pool_context``).

    python bench/pool_context.py --seeds 12
    python bench/pool_context.py --seeds 12 --old-scales 0.3 --name pool_context_one_pool
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wilcoxon

from admire.bo.policies.options import ModelOptions
from admire.bo.pool_context import PoolState, context_fn, training_data
from admire.bo.seeding import derive_seed, torch_seeded
from admire.bo.surrogate import TrainingData
from admire.problems.pool_states import PooledProblem, with_pool
from admire.problems.synthetic import SyntheticSpec, generate

RESULTS = Path(__file__).parent / "results"
OLD_SCALES = (0.1, 0.3)
METHODS = ("covariates", "covariates+tokens", "mixture-only", "reuse-old-best")
FEATURES = {"covariates": "epochs", "covariates+tokens": "epochs+tokens"}


def studies(pp: PooledProblem, cheap: int, target: int, seed: int,
            scales: tuple[float, ...] = OLD_SCALES) -> dict:
    """Runs of the earlier studies: weights, rung, loss, and the pool each ran under."""
    rng = np.random.default_rng([seed, 7])
    k, last = len(pp.base_pool), len(pp.rung_tokens) - 1
    parts: dict[str, list] = {"w": [], "r": [], "y": [], "pool": []}
    for scale in scales:
        pool = pp.pool(scale)
        w = rng.dirichlet(np.ones(k), cheap)
        for rung, mixtures in ((0, w), (last, w[:target])):
            parts["w"].append(mixtures)
            parts["r"].append(np.full(len(mixtures), rung))
            parts["y"].append(pp.evaluate(mixtures, rung, pool, rng))
            parts["pool"] += [pool] * len(mixtures)
    return {"w": np.vstack(parts["w"]), "r": np.concatenate(parts["r"]),
            "y": np.concatenate(parts["y"]), "pool": np.array(parts["pool"])}


def recommend(method: str, pp: PooledProblem, runs: dict, new_pool: np.ndarray,
              candidates: np.ndarray, options: ModelOptions) -> np.ndarray:
    last = len(pp.rung_tokens) - 1
    fidelity = tuple(float(t) for t in pp.rung_tokens)
    if method == "reuse-old-best":
        latest = (runs["r"] == last) & np.all(runs["pool"] == runs["pool"][-1], axis=1)
        return runs["w"][latest][int(np.argmin(runs["y"][latest]))]
    domains = list(pp.domains)
    if method == "mixture-only":
        data = TrainingData(runs["w"], runs["r"], -runs["y"], fidelity)
        surrogate = options.build_surrogate().fit(data)
    else:
        features = FEATURES[method]
        covs: list[dict[str, float]] = []
        for w, r, p in zip(runs["w"], runs["r"], runs["pool"], strict=True):
            state = PoolState(dict(zip(domains, p, strict=True)), pp.rung_tokens)
            covs += state.covariates(w[None], np.array([r]), domains)
        data = training_data(runs["w"], runs["r"], -runs["y"], fidelity, covs, domains,
                             features)  # type: ignore[arg-type]
        new = PoolState(dict(zip(domains, new_pool, strict=True)), pp.rung_tokens)
        surrogate = options.build_surrogate(context_fn=context_fn(
            new, domains, features)).fit(data)  # type: ignore[arg-type]
    return candidates[int(np.argmax(surrogate.predict_mean(candidates, last)))]


def one_seed(seed: int, args: argparse.Namespace) -> list[dict]:
    problem = generate(SyntheticSpec(k=args.k, rows_per_rung=(40, 20), rank_corr=0.8,
                                     noise=args.noise), seed=seed)
    pp = with_pool(problem, seed)
    runs = studies(pp, args.cheap, args.target, seed, tuple(args.old_scales))
    last = len(pp.rung_tokens) - 1
    options = ModelOptions(rung_scale=args.rung_scale)
    old_best = recommend("reuse-old-best", pp, runs, runs["pool"][-1], runs["w"], options)
    shrunk = runs["pool"][-1].copy()
    shrunk[int(np.argmax(old_best))] /= 10.0
    rng = np.random.default_rng([seed, 11])
    candidates = np.vstack([rng.dirichlet(np.ones(args.k), args.candidates),
                            np.unique(runs["w"][runs["r"] == last], axis=0)])
    rows = []
    larger = pp.pool(round(10.0 * args.old_scales[-1], 12))
    for scenario, pool in (("larger", larger), ("shrunk", shrunk)):
        _, best = pp.optimum(pool, seed)
        spread = float(np.std(pp.truth(candidates, last, pool)))
        for method in METHODS:
            t0 = time.perf_counter()
            with torch_seeded(derive_seed(seed, scenario, method)):
                w = recommend(method, pp, runs, pool, candidates, options)
            regret = float(pp.truth(w, last, pool)[0] - best)
            rows.append({"seed": seed, "scenario": scenario, "method": method,
                         "regret": regret, "regret_rel": regret / spread,
                         "seconds": time.perf_counter() - t0, "weights": w.round(4).tolist()})
    return rows


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for scenario in sorted({r["scenario"] for r in rows}):
        table = {}
        for method in METHODS:
            rel = np.array([r["regret_rel"] for r in rows
                            if r["scenario"] == scenario and r["method"] == method])
            table[method] = {"mean": float(rel.mean()), "median": float(np.median(rel)),
                             "se": float(rel.std(ddof=1) / np.sqrt(len(rel)))}
        base = {r["seed"]: r["regret_rel"] for r in rows
                if r["scenario"] == scenario and r["method"] == "mixture-only"}
        for method in METHODS:
            mine = {r["seed"]: r["regret_rel"] for r in rows
                    if r["scenario"] == scenario and r["method"] == method}
            table[method]["wins_vs_mixture_only"] = int(sum(mine[s] < base[s] - 1e-12
                                                            for s in base))
            table[method]["losses_vs_mixture_only"] = int(sum(mine[s] > base[s] + 1e-12
                                                              for s in base))
            diffs = [mine[s] - base[s] for s in base]
            table[method]["wilcoxon_p_vs_mixture_only"] = (
                float(wilcoxon(diffs).pvalue) if any(abs(d) > 1e-12 for d in diffs) else 1.0)
        out[scenario] = table
    return out


def write(rows: list[dict], summary: dict, args: argparse.Namespace, wall: float) -> None:
    RESULTS.mkdir(exist_ok=True)
    flags = " ".join(f"--{k.replace('_', '-')} " + (" ".join(map(str, v)) if isinstance(
        v, list) else str(v)) for k, v in vars(args).items())
    payload = {"command": "python bench/pool_context.py " + flags, "wall_seconds": wall,
               "old_pool_scales": list(args.old_scales), "summary": summary, "rows": rows}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    n = len({r["seed"] for r in rows})
    lines = [f"# Pool state as context: regret of a recommendation for a new pool ({n} seeds)",
             "", f"`{payload['command']}`, {wall:.0f} s wall on 1 core.", "",
             "Regret = true target loss of the recommendation under the new pool minus the new "
             "pool's optimum, in units of the sd of the target loss over random mixtures under "
             "that pool. Paired: the same problems, runs and candidates for every method.", "",
             "| new pool | method | mean regret | median | se | wins / losses vs mixture-only "
             "| paired Wilcoxon p |", "|---|---|---|---|---|---|---|"]
    for scenario, table in summary.items():
        for method, s in table.items():
            lines.append(f"| {scenario} | {method} | {s['mean']:.3f} | {s['median']:.3f} | "
                         f"{s['se']:.3f} | {s['wins_vs_mixture_only']} / "
                         f"{s['losses_vs_mixture_only']} | "
                         f"{s['wilcoxon_p_vs_mixture_only']:.3g} |")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 3.5), sharey=True)
    for ax, scenario in zip(np.atleast_1d(axes), summary, strict=True):
        data = [[r["regret_rel"] for r in rows if r["scenario"] == scenario
                 and r["method"] == m] for m in METHODS]
        ax.boxplot(data)
        ax.set_xticks(range(1, len(METHODS) + 1), METHODS, rotation=20, fontsize=8)
        ax.set_title(f"new pool: {scenario}")
    np.atleast_1d(axes)[0].set_ylabel("regret / sd of target loss")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{args.name}.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--cheap", type=int, default=30, help="runs per study at rung 0")
    parser.add_argument("--target", type=int, default=10, help="target runs per study")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--old-scales", type=float, nargs="+", default=list(OLD_SCALES),
                        help="pool states of the earlier studies (multiples of the base pool)")
    parser.add_argument("--rung-scale", default=ModelOptions().rung_scale,
                        choices=["rung", "shared", "equal", "prior"],
                        help="the surrogate's rung_scale (default: the policy default's)")
    parser.add_argument("--name", default="pool_context", help="results file stem")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the tables and plot from NAME.json's rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.report_only:
        saved = json.loads((RESULTS / f"{args.name}.json").read_text(encoding="utf-8"))
        rows, wall = saved["rows"], saved["wall_seconds"]
        args = argparse.Namespace(**{k: v for k, v in vars(args).items()
                                     if k != "report_only"})
        args.seeds = len({r["seed"] for r in rows})
        args.old_scales = saved["old_pool_scales"]
    else:
        t0 = time.perf_counter()
        rows = [row for seed in range(args.seeds) for row in one_seed(seed, args)]
        wall = time.perf_counter() - t0
        del args.report_only
    summary = summarise(rows)
    write(rows, summary, args, wall)
    print((RESULTS / f"{args.name}.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
