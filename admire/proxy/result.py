"""What one trained proxy reports: metrics for the runs table, and its cost."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProxyResult:
    """Metrics and cost of one trained proxy. ``cost`` is what the study charges: on a CPU the
    process's CPU seconds (what the trial consumed; other work sharing the machine stretches its
    wall time, not this, bench/results/trial_cost.md), on a GPU the wall seconds it held the
    device.

    ``flops`` is ``6 * n_params * tokens`` (all parameters, the simple count earlier results
    used); ``model_flops`` is the MFU numerator (matmul parameters plus attention, see
    ``admire.proxy.flops``) and ``mfu`` its rate over the device's peak (``None`` on CPU).
    """

    rung: str
    seed: int
    objective: float
    val_loss: dict[str, float]
    train_loss: float
    tokens: int
    steps: int
    tokens_per_s: float
    train_seconds: float
    wall_seconds: float
    cpu_seconds: float
    flops: float
    n_params: int
    domain_tokens: dict[str, int]
    domain_epochs: dict[str, float]
    device: str
    initial_val_loss: dict[str, float] | None = None
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    model_flops: float = 0.0
    mfu: float | None = None

    @property
    def cost(self) -> float:
        return charged_seconds(self.device, self.wall_seconds, self.cpu_seconds)

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics for a runs-table row (the caller adds the ``m:`` prefix)."""
        out = {"objective": self.objective, "train_loss": self.train_loss,
               "tokens_per_s": self.tokens_per_s, "wall_s": self.wall_seconds,
               "cpu_s": self.cpu_seconds,
               "flops": self.flops, "n_params": float(self.n_params)}
        out.update({f"val_loss:{d}": v for d, v in self.val_loss.items()})
        return out


def charged_seconds(device: str, wall_seconds: float, cpu_seconds: float) -> float:
    """A trial's cost in seconds: CPU seconds on a CPU device, wall seconds on an accelerator."""
    return cpu_seconds if device == "cpu" else wall_seconds
