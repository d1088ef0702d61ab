"""The one interval level admire reports: every interval is a two-sided 90% one, so its
half-width is Z90 standard deviations (the standard normal's 95th percentile)."""

from __future__ import annotations

from typing import Final

Z90: Final = 1.6448536269514722  # scipy.stats.norm.ppf(0.95)
