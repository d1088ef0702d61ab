"""Is ``admire.proxy.train`` as fast as a bare PyTorch loop? Measured side by side in one run.

Both loops train the same model (same init seed) on the same batches (drawn once by the sampler)
with the same torch thread count. Runs come in back-to-back pairs whose order alternates, and the
ratio reported is the median of per-pair ratios, so load swings on a shared machine cancel. The
proxy's tokens/s is its own measurement (training loop only, no model build or evaluation),
exactly what a study sees.

With ``--rung-costs`` it also times every cpu-tiny rung end to end (model build, training,
evaluation on all domains): the numbers behind ``cost_estimate`` in ``fidelities/cpu-tiny.toml``.

    .venv/bin/python bench/proxy_throughput.py            # writes bench/results/proxy_throughput.*
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from admire.proxy.corpora import BUILTIN_DOMAINS, Corpora, CorpusConfig, build_corpora
from admire.proxy.sampler import plan_mixture, sample_mixture
from admire.proxy.train import ProxySpec, build_model, lm_loss, train_proxy, train_rung
from admire.schema.ladder import load_ladder

REPO = Path(__file__).resolve().parents[1]
LADDER = REPO / "fidelities" / "cpu-tiny.toml"
RESULTS = REPO / "bench" / "results"


def bare_loop(corpora: Corpora, spec: ProxySpec, batches: torch.Tensor, seed: int) -> float:
    """The reference: forward, loss, backward, AdamW step. Returns tokens/s."""
    tr = spec.train
    model = build_model(spec.model, corpora.tokenizer, seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=tr.lr, betas=(tr.beta1, tr.beta2),
                            weight_decay=tr.weight_decay)
    t0 = time.perf_counter()
    for ids in batches:
        loss = lm_loss(model, ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    loss.item()
    return batches.numel() / (time.perf_counter() - t0)


def compare(corpora: Corpora, spec: ProxySpec, weights: dict[str, float], repeats: int,
            seed: int) -> dict:
    tr = spec.train
    plan = plan_mixture(weights, corpora.available_tokens(), tr.tokens, tr.seq_len)
    sample = sample_mixture({n: d.train for n, d in corpora.domains.items()}, plan, seed)
    # exactly the batches train_proxy will draw for this seed, materialised up front
    batches = torch.from_numpy(np.stack(list(sample.batches(tr.batch_size))))
    train_proxy(corpora, weights, spec, seed=seed, device="cpu")  # warm-up, untimed
    bare_loop(corpora, spec, batches, seed)

    def run_proxy() -> float:
        return train_proxy(corpora, weights, spec, seed=seed, device="cpu").tokens_per_s

    proxy, bare = [], []
    for i in range(repeats):  # alternate which goes first, so load drift hits both alike
        if i % 2 == 0:
            proxy.append(run_proxy())
            bare.append(bare_loop(corpora, spec, batches, seed))
        else:
            bare.append(bare_loop(corpora, spec, batches, seed))
            proxy.append(run_proxy())
    ratios = [p / b for p, b in zip(proxy, bare, strict=True)]
    return {"rung": spec.name, "tokens_per_run": tr.tokens, "steps": tr.steps,
            "batch_size": tr.batch_size, "seq_len": tr.seq_len,
            "proxy_tok_s": round(statistics.median(proxy), 1),
            "bare_tok_s": round(statistics.median(bare), 1),
            "ratio": round(statistics.median(ratios), 4),
            "pair_ratios": [round(r, 4) for r in ratios],
            "proxy_runs": [round(x, 1) for x in proxy], "bare_runs": [round(x, 1) for x in bare]}


def rung_costs(corpora: Corpora, weights: dict[str, float], seed: int) -> list[dict]:
    out = []
    for rung in load_ladder(LADDER).rungs:
        r = train_rung(corpora, weights, rung, seed=seed, device="cpu")
        out.append({"rung": rung.name, "n_params": r.n_params, "tokens": r.tokens,
                    "wall_s": round(r.wall_seconds, 2), "train_s": round(r.train_seconds, 2),
                    "tok_s": round(r.tokens_per_s, 1), "objective": round(r.objective, 4)})
        print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--steps", type=int, default=24, help="optimizer steps per timed run")
    ap.add_argument("--rungs", default="tiny-0.1M,small-0.5M", help="cpu-tiny rungs to compare")
    ap.add_argument("--rung-costs", action="store_true", help="also time each rung end to end")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpora = build_corpora(list(BUILTIN_DOMAINS), CorpusConfig())
    weights = {n: 1 / len(corpora.names) for n in corpora.names}
    ladder = load_ladder(LADDER)
    rows = []
    for name in args.rungs.split(","):
        spec = ProxySpec.from_rung(ladder.rung(name))
        tokens = args.steps * spec.train.tokens_per_step
        spec = replace(spec, train=replace(spec.train, tokens=tokens))
        rows.append(compare(corpora, spec, weights, args.repeats, args.seed))
        print(rows[-1], flush=True)
    result = {
        "benchmark": "proxy_throughput", "target_ratio": 0.9,
        "min_ratio": min(r["ratio"] for r in rows), "threads": args.threads,
        "repeats": args.repeats, "rows": rows,
        "rung_costs": rung_costs(corpora, weights, args.seed) if args.rung_costs else None,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "load_avg_at_end": os.getloadavg(),
                    "note": "2-core machine shared with other work while measuring"},
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "proxy_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Proxy training throughput: admire.proxy.train vs a bare PyTorch loop", "",
             f"torch {torch.__version__}, CPU, {args.threads} thread(s), {args.repeats} pairs of "
             "runs (order alternating), same model init and batches; tok/s are medians, "
             "ratio is the median of per-pair ratios, "
             f"{result['date']}. Target ratio >= 0.9.", "",
             "| rung | steps x tokens/step | proxy tok/s | bare tok/s | ratio |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rung']} | {r['steps']} x {r['batch_size'] * r['seq_len']} | "
                     f"{r['proxy_tok_s']:,.0f} | {r['bare_tok_s']:,.0f} | {r['ratio']:.3f} |")
    if result["rung_costs"]:
        lines += ["", "End-to-end cost of each cpu-tiny rung (build + train + eval of "
                  f"{len(corpora.names)} domains), one run each:", "",
                  "| rung | params | tokens | wall s | train tok/s | objective |",
                  "|---|---|---|---|---|---|"]
        for c in result["rung_costs"]:
            lines.append(f"| {c['rung']} | {c['n_params']:,} | {c['tokens']:,} | "
                         f"{c['wall_s']:.1f} | {c['tok_s']:,.0f} | {c['objective']:.4f} |")
    lines += ["", f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(shared machine)."]
    (RESULTS / "proxy_throughput.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
