"""Replay of ADMIRE IFT Runs: admire's default policy against sfbo, random and regmix, same seeds.

Writes bench/results/replay_admire.json (the replay summary plus medians per method),
bench/results/replay_admire.md and bench/results/replay_admire.png.
Run: python bench/replay_admire.py [--seeds 10] [--budget 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from admire.app import replay_plots as report
from admire.bo.policies.registry import split_specs
from admire.replay import runner as replay
from admire.replay.summary import cost_to_best, regret_at, summary_rows

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results"
TABLE = ROOT / "runs_dataset" / "admire_ift_runs.parquet"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--methods", default="mfbo,sfbo,random,regmix")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--name", default="replay_admire")
    args = parser.parse_args()
    start = time.time()

    def progress(result: replay.SeedResult) -> None:
        print(f"[{time.time() - start:7.0f}s] {result.method} seed {result.seed}: "
              f"cost_to_best {cost_to_best(result.curve)}, "
              f"regret@3 {regret_at(result.curve, 3)}, picks {result.picks_per_rung}",
              flush=True)

    methods = split_specs(args.methods)
    summary = replay.replay(TABLE, "avg_id+ood", methods, range(args.seeds), args.budget,
                            workers=args.workers, on_result=progress)
    summary["medians"] = summary_rows(summary)
    summary["wall_seconds"] = round(time.time() - start, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(summary, indent=1))
    table = report.markdown_table(summary)
    (OUT / f"{args.name}.md").write_text(
        f"# Replay of ADMIRE IFT Runs ({args.seeds} seeds, budget {args.budget:g} target runs)\n\n"
        f"Objective avg_id+ood (maximise), best {summary['best_value']:.6f}. Medians over seeds; "
        f"'never' = not reached in more than half the seeds.\n\n{table}")
    report.plot_regret_vs_cost(summary, OUT / f"{args.name}.png")
    print(table)


if __name__ == "__main__":
    main()
