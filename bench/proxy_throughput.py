"""Proxy training throughput and model FLOPs utilisation, and ``admire.proxy.train`` against a
bare PyTorch loop, measured side by side in one run.

Both loops train the same model (same init seed) on the same batches (drawn once by the sampler)
with the same torch thread count. Runs come in back-to-back pairs whose order alternates, and the
ratio reported is the median of per-pair ratios, so load swings on a shared machine cancel. The
proxy's tokens/s is its own measurement (training loop only, no model build or evaluation),
exactly what a study sees.

MFU = tokens/s x training FLOPs per token (``admire.proxy.flops``: 6 x matmul parameters +
12 x layers x width x context) / peak FLOP/s. On a GPU the peak is the datasheet's dense bf16
number; a CPU has no such number, so the reference is the best fp32 matmul rate measured here
with the same threads (an upper bound no small model reaches).

With ``--rung-costs`` it also times every rung end to end (model build, training, evaluation on
all domains): the numbers behind ``cost_estimate`` in ``fidelities/cpu-tiny.toml``.

    .venv/bin/python bench/proxy_throughput.py            # writes bench/results/proxy_throughput.*
    .venv/bin/python bench/proxy_throughput.py --device cuda --ladder gpu-small --rungs s-20M
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from admire.proxy.corpora import BUILTIN_DOMAINS, Corpora, CorpusConfig, build_corpora
from admire.proxy.flops import flops_per_token, measured_matmul_flops, peak_flops
from admire.proxy.sampler import plan_mixture, sample_mixture
from admire.proxy.train import ProxySpec, build_model, lm_loss, train_proxy

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def load_specs(ladder: str) -> dict[str, ProxySpec]:
    """The rungs of ``fidelities/<ladder>.toml`` as proxy specs, in ladder order."""
    data = tomllib.loads((REPO / "fidelities" / f"{ladder}.toml").read_text(encoding="utf-8"))
    return {r["name"]: ProxySpec.from_dict(r, where=f"rung {r['name']!r}", name=r["name"])
            for r in data["rung"]}


def bare_loop(corpora: Corpora, spec: ProxySpec, batches: torch.Tensor, seed: int,
              device: torch.device) -> float:
    """The reference: forward, loss, backward, AdamW step (bf16 autocast and fused AdamW on
    CUDA, as the proxy uses). Returns tokens/s."""
    tr = spec.train
    cuda = device.type == "cuda"
    model = build_model(spec.model, corpora.tokenizer, seed).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=tr.lr, betas=(tr.beta1, tr.beta2),
                            weight_decay=tr.weight_decay, fused=cuda)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    t0 = time.perf_counter()
    for ids in batches:
        with amp:
            loss = lm_loss(model, ids.to(device))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    loss.item()
    return batches.numel() / (time.perf_counter() - t0)


def compare(corpora: Corpora, spec: ProxySpec, weights: dict[str, float], repeats: int,
            seed: int, device: torch.device, peak: float) -> dict:
    tr = spec.train
    plan = plan_mixture(weights, corpora.available_tokens(), tr.tokens, tr.seq_len)
    sample = sample_mixture({n: d.train for n, d in corpora.domains.items()}, plan, seed)
    # exactly the batches train_proxy will draw for this seed, materialised up front
    batches = torch.from_numpy(np.stack(list(sample.batches(tr.batch_size))))
    train_proxy(corpora, weights, spec, seed=seed, device=device)  # warm-up, untimed
    bare_loop(corpora, spec, batches, seed, device)

    def run_proxy() -> float:
        return train_proxy(corpora, weights, spec, seed=seed, device=device).tokens_per_s

    proxy, bare = [], []
    for i in range(repeats):  # alternate which goes first, so load drift hits both alike
        if i % 2 == 0:
            proxy.append(run_proxy())
            bare.append(bare_loop(corpora, spec, batches, seed, device))
        else:
            bare.append(bare_loop(corpora, spec, batches, seed, device))
            proxy.append(run_proxy())
    ratios = [p / b for p, b in zip(proxy, bare, strict=True)]
    per_token = flops_per_token(spec.model, corpora.tokenizer.vocab_size, tr.seq_len)
    tok_s = statistics.median(proxy)
    return {"rung": spec.name, "tokens_per_run": tr.tokens, "steps": tr.steps,
            "batch_size": tr.batch_size, "seq_len": tr.seq_len,
            "proxy_tok_s": round(tok_s, 1),
            "bare_tok_s": round(statistics.median(bare), 1),
            "ratio": round(statistics.median(ratios), 4),
            "flops_per_token": per_token, "achieved_flop_s": round(tok_s * per_token),
            "mfu": round(tok_s * per_token / peak, 5),
            "pair_ratios": [round(r, 4) for r in ratios],
            "proxy_runs": [round(x, 1) for x in proxy], "bare_runs": [round(x, 1) for x in bare]}


def rung_costs(corpora: Corpora, specs: dict[str, ProxySpec], weights: dict[str, float],
               seed: int, device: torch.device, peak: float) -> list[dict]:
    out = []
    for name, spec in specs.items():
        r = train_proxy(corpora, weights, spec, seed=seed, device=device)
        out.append({"rung": name, "n_params": r.n_params, "tokens": r.tokens,
                    "wall_s": round(r.wall_seconds, 2), "train_s": round(r.train_seconds, 2),
                    "tok_s": round(r.tokens_per_s, 1), "objective": round(r.objective, 4),
                    "mfu": round(r.model_flops / r.train_seconds / peak, 5)})
        print(out[-1], flush=True)
    return out


def machine() -> dict:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "note": "2-core machine shared with other work while measuring"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--steps", type=int, default=24, help="optimizer steps per timed run")
    ap.add_argument("--ladder", default="cpu-tiny", help="a fidelities/*.toml name")
    ap.add_argument("--rungs", default="tiny-0.1M,small-0.5M", help="rungs to compare")
    ap.add_argument("--rung-costs", action="store_true", help="also time each rung end to end")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", action="store_true", help="train.compile = true for every rung")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peak = peak_flops(device)
    if peak is None and device.type == "cpu":
        peak_kind = f"best fp32 1024x1024 matmul measured here with {args.threads} thread(s)"
        peak = measured_matmul_flops(seconds=3.0)
    elif peak is None:
        raise SystemExit(f"no peak FLOP/s known for {torch.cuda.get_device_name(device)}; "
                         "add it to admire.proxy.flops.PEAK_FLOPS")
    else:
        peak_kind = f"dense bf16 datasheet peak of {torch.cuda.get_device_name(device)}"
    print(f"peak {peak / 1e9:,.1f} GFLOP/s ({peak_kind})", flush=True)
    corpora = build_corpora(list(BUILTIN_DOMAINS), CorpusConfig())
    weights = {n: 1 / len(corpora.names) for n in corpora.names}
    specs = load_specs(args.ladder)
    if args.compile:
        specs = {n: replace(s, train=replace(s.train, compile=True)) for n, s in specs.items()}
    rows = []
    for name in args.rungs.split(","):
        spec = specs[name]
        tokens = args.steps * spec.train.tokens_per_step
        spec = replace(spec, train=replace(spec.train, tokens=tokens))
        rows.append(compare(corpora, spec, weights, args.repeats, args.seed, device, peak))
        print(rows[-1], flush=True)
    result = {
        "benchmark": "proxy_throughput", "target_ratio": 0.9,
        "min_ratio": min(r["ratio"] for r in rows), "threads": args.threads,
        "repeats": args.repeats, "device": str(device), "ladder": args.ladder,
        "compile": args.compile, "peak_flop_s": peak, "peak_kind": peak_kind, "rows": rows,
        "rung_costs": (rung_costs(corpora, specs, weights, args.seed, device, peak)
                       if args.rung_costs else None),
        "machine": {**machine(), "load_avg_at_end": os.getloadavg()},
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "nice -n 19 .venv/bin/python bench/proxy_throughput.py "
                   + " ".join(sys.argv[1:]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "proxy_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    gpu_note = ("" if device.type == "cuda" else
                " No GPU was available: MFU is against a measured CPU matmul rate, not a "
                "datasheet peak, and says how far tiny models are from dense GEMM speed.")
    lines = ["# Proxy training throughput and MFU; admire.proxy.train vs a bare PyTorch loop", "",
             f"torch {torch.__version__}, {device.type.upper()} ({result['machine']['cpu']}"
             f"{', ' + result['machine']['gpu'] if result['machine']['gpu'] else ''}), "
             f"{args.threads} thread(s), {args.repeats} pairs of "
             "runs (order alternating), same model init and batches; tok/s are medians, "
             "ratio is the median of per-pair ratios, "
             f"{result['date']}. Target ratio >= 0.9. Peak for MFU: {peak / 1e9:,.1f} GFLOP/s "
             f"({peak_kind}).{gpu_note}", "",
             f"Command: `{result['command']}`", "",
             "| rung | steps x tokens/step | proxy tok/s | bare tok/s | ratio | FLOPs/token | "
             "GFLOP/s | MFU |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rung']} | {r['steps']} x {r['batch_size'] * r['seq_len']} | "
                     f"{r['proxy_tok_s']:,.0f} | {r['bare_tok_s']:,.0f} | {r['ratio']:.3f} | "
                     f"{r['flops_per_token'] / 1e6:.2f}M | {r['achieved_flop_s'] / 1e9:.2f} | "
                     f"{100 * r['mfu']:.1f}% |")
    if result["rung_costs"]:
        lines += ["", "End-to-end cost of each rung (build + train + eval of "
                  f"{len(corpora.names)} domains), one run each:", "",
                  "| rung | params | tokens | wall s | train tok/s | MFU | objective |",
                  "|---|---|---|---|---|---|---|"]
        for c in result["rung_costs"]:
            lines.append(f"| {c['rung']} | {c['n_params']:,} | {c['tokens']:,} | "
                         f"{c['wall_s']:.1f} | {c['tok_s']:,.0f} | {100 * c['mfu']:.1f}% | "
                         f"{c['objective']:.4f} |")
    lines += ["", f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              "(shared machine)."]
    (RESULTS / "proxy_throughput.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
