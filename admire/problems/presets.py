"""Named synthetic problem shapes for the benchmark suite; names say the shape.

Together they cover K 3..100, cheapest-rung rank correlation 0.3..0.95, low and high seed noise,
2 to 5 rungs, cost ratios 3:1 to 1000:1, interior and face optima, and pools of 1,000+ rows.
``k19-admire-like`` copies ADMIRE IFT Runs' shape (256/128/76 mixtures, 537.5/95.3 cost ratio,
0.5B-vs-7B Spearman 0.55; ADMIRE's 0.55 is measured through seed noise, so its noise is low);
``k20-ratio1000-pool1000`` is RegMix's (a thousand 1/1000-cost proxies, few target runs);
``k64-face-corr0.95`` is Olmix-sized.
"""

from __future__ import annotations

from admire.problems.synthetic import SyntheticSpec

PRESETS: dict[str, SyntheticSpec] = {
    "k3-easy": SyntheticSpec(k=3, rows_per_rung=(150, 80, 50), cost_ratio=10.0,
                             rank_corr=0.9, noise=0.05),
    "k5-face-replicates": SyntheticSpec(k=5, rows_per_rung=(150, 60, 50), cost_ratio=10.0,
                                        rank_corr=0.7, noise=0.3, optimum="face",
                                        face_fraction=0.4, replicates=2),
    "k8-corr0.5": SyntheticSpec(k=8, rows_per_rung=(200, 100, 50), cost_ratio=10.0,
                                rank_corr=0.5, noise=0.1),
    "k19-admire-like": SyntheticSpec(k=19, rows_per_rung=(256, 128, 76), cost_ratio=5.64,
                                     rank_corr=0.55, noise=0.1),
    "k20-ratio1000-pool1000": SyntheticSpec(k=20, rows_per_rung=(1000, 50), cost_ratio=1000.0,
                                            rank_corr=0.8, noise=0.1),
    "k50-face": SyntheticSpec(k=50, rows_per_rung=(500, 150, 60), cost_ratio=30.0,
                              rank_corr=0.7, noise=0.1, optimum="face", face_fraction=0.3),
    "k64-face-corr0.95": SyntheticSpec(k=64, rows_per_rung=(512, 64), cost_ratio=30.0,
                                       rank_corr=0.95, noise=0.05, optimum="face"),
    "k100-highnoise-4rung": SyntheticSpec(k=100, rows_per_rung=(1200, 600, 200, 60),
                                          cost_ratio=100.0, rank_corr=0.6, noise=0.5),
    "two-rung-k10-corr0.3-ratio3": SyntheticSpec(k=10, rows_per_rung=(150, 50), cost_ratio=3.0,
                                                 rank_corr=0.3, noise=0.1, optimum="face",
                                                 face_fraction=0.2),
    "five-rung-k12-ratio300": SyntheticSpec(k=12, rows_per_rung=(800, 400, 200, 100, 50),
                                            cost_ratio=300.0, rank_corr=0.4, noise=0.15),
}
