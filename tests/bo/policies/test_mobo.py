"""mobo: its Pareto set is non-dominated and feasible, its acquisition runs through BoTorch's
qLogNEHVI with constraints, bad options fail with errors that name them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from admire.bo import pareto
from admire.bo.history import History, Observations
from admire.bo.mo_acquisition import _constraints
from admire.bo.outcomes import Bound, OutcomeSpec
from admire.bo.policies.registry import parse_policy, policy_spec
from admire.bo.surrogate import MIN_LOO
from admire.errors import ConfigError
from admire.replay.mo import MOReplayProblem
from admire.schema.objectives import ConstraintConfig
from admire.study.loop import run

SPEC = OutcomeSpec(("a", "loss", "c"), (False, True, False), 2, (Bound(2, lower=0.0),))


def dominated(p: np.ndarray, q: np.ndarray) -> bool:
    """Whether q dominates p (both to maximise)."""
    return bool(np.all(q >= p) and np.any(q > p))


def brute_front(oriented: np.ndarray) -> set[int]:
    return {i for i in range(len(oriented))
            if not any(dominated(oriented[i], oriented[j]) for j in range(len(oriented)))}


def history(n: int) -> History:
    return History(Observations.empty(2), np.zeros((0, 2)), np.zeros(0, dtype=int), (),
                   frozenset(), frozenset(), n, None)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 25), st.just(3)),
              elements=st.floats(-3, 3).map(lambda x: round(x, 1))))
def test_pareto_set_is_the_brute_force_front_of_the_feasible_points(raw):
    mixtures = [{"x": float(i), "y": 0.0} for i in range(len(raw))]
    rec = pareto.build(SPEC, mixtures, raw, None, history(len(raw)), "top",
                       tradeoff=np.ones(2), how="linear", basis="observed")
    feasible = raw[:, 2] >= 0
    assert rec.feasible == bool(feasible.any())
    pool = np.flatnonzero(feasible) if feasible.any() else np.arange(len(raw))
    oriented = SPEC.oriented_objectives(raw[pool])
    chosen = {int(p.mixture["x"]) for p in rec.points}
    # Every returned point is feasible (when any is) and dominated by no candidate; every
    # non-dominated value appears (duplicated values once).
    assert chosen <= set(pool.tolist())
    front = {int(pool[i]) for i in brute_front(oriented)}
    assert chosen <= front
    assert {tuple(SPEC.oriented_objectives(raw[i])[0]) for i in front} == {
        tuple(SPEC.oriented_objectives(raw[i])[0]) for i in chosen}
    assert 0 <= rec.chosen < len(rec.points)


def test_tradeoff_weights_move_the_pick_along_the_front():
    front = np.array([[0.0, 1.0], [0.5, 0.6], [1.0, 0.0]])
    assert pareto.tradeoff_pick(front, np.array([1.0, 0.0]), "linear") == 2
    assert pareto.tradeoff_pick(front, np.array([0.0, 1.0]), "linear") == 0
    assert pareto.tradeoff_pick(front, np.array([1.0, 0.0]), "chebyshev") == 2
    assert pareto.tradeoff_pick(front, np.array([1.0, 1.0]), "chebyshev") == 1


def test_constraint_callables_are_negative_exactly_where_the_bound_holds():
    spec = OutcomeSpec(("a", "loss"), (False, True), 2,
                       (Bound(0, lower=0.3), Bound(1, upper=2.0)))
    loc, scale = torch.tensor([0.5, -1.0]), torch.tensor([0.1, 2.0])
    # oriented model samples z; raw = sign * (z * scale + loc)
    z = torch.tensor([[-1.0, 0.0], [-3.0, 0.0], [0.0, -0.6]])
    lower, upper = _constraints(spec, loc, scale)
    raw_a = z[:, 0] * 0.1 + 0.5  # 0.4, 0.2, 0.5
    raw_loss = -(z[:, 1] * 2.0 - 1.0)  # 1.0, 1.0, 2.2
    assert ((lower(z) <= 0) == (raw_a >= 0.3)).all()
    assert ((upper(z) <= 0) == (raw_loss <= 2.0)).all()


def test_bad_options_and_a_single_objective_study_are_refused(admire_table):
    with pytest.raises(ConfigError, match="tradeoff weights"):
        policy_spec("mobo", {"tradeoff": {"avg_id": -1.0}})
    with pytest.raises(ConfigError, match="screen_share"):
        parse_policy("mobo:screen_share=2")
    problem = MOReplayProblem.from_table(admire_table, (("avg_id", False), ("avg_ood", False)))
    with pytest.raises(ConfigError, match="tradeoff names"):
        problem.study(policy_spec("mobo", {"tradeoff": {"avg": 1.0}}), seed=0, budget=2.0)
    from admire.replay.problem import ReplayProblem

    single = ReplayProblem.from_table(admire_table, "avg_id")
    with pytest.raises(ConfigError, match="needs two or more"):
        single.study(parse_policy("mobo"), seed=0, budget=2.0)


@pytest.fixture(scope="module")
def fitted(admire_table):
    torch.set_num_threads(1)
    problem = MOReplayProblem.from_table(
        admire_table, (("avg_id", False), ("avg_ood", False)),
        (ConstraintConfig(metric="avg_id", min=0.60),))
    study = problem.study(parse_policy("mobo:screen_share=0.15,recommend_from=all"), seed=1,
                          budget=8.0)
    run(study, problem.base.evaluator())
    return problem, study


def test_recommended_set_is_non_dominated_and_feasible_on_its_own_predictions(fitted):
    problem, study = fitted
    rec = study.recommend_pareto()
    policy, history = study.policy, study.history()
    candidates = policy.recommendation_set(history)
    raw = np.stack([s * m.predict_mean(candidates, 2) for s, m in
                    zip(policy.spec.signs, policy.models(history), strict=True)], axis=1)
    feasible = raw[:, 0] >= 0.60
    assert feasible.any() and rec.feasible
    oriented = raw[feasible]
    front = oriented[sorted(brute_front(oriented))]
    got = np.array([[p.predicted["avg_id"], p.predicted["avg_ood"]] for p in rec.points])
    assert np.all(got[:, 0] >= 0.60)  # constraints exclude infeasible points
    assert {tuple(np.round(r, 9)) for r in got} == {tuple(np.round(r, 9)) for r in front}
    assert (study.history().observations.rung == 2).sum() >= MIN_LOO  # so intervals show
    for p in rec.points:  # intervals contain the prediction
        for m in ("avg_id", "avg_ood"):
            assert p.lower90[m] < p.predicted[m] < p.upper90[m]
    assert rec.to_dict()["choice"] == rec.points[rec.chosen].to_dict()


def test_mobo_spends_its_screen_share_then_runs_the_target(fitted):
    _, study = fitted
    table = study.runs
    rungs = table["rung"].value_counts()
    assert rungs.get("Qwen2.5-7B", 0) >= 2 and rungs.get("Qwen2.5-0.5B", 0) >= 1
    assert "Qwen2.5-3B" not in rungs  # screens only at the cheapest rung


def test_continuous_mode_proposes_on_the_simplex_and_recommends_a_feasible_front():
    from admire.schema.config import config_from_dict
    from admire.study.loop import run_function
    from admire.study.study import Study

    config = config_from_dict({
        "study": {"name": "c", "budget": 3.0, "seed": 0},
        "ladder": {"name": "l", "rung": [{"name": "s", "cost_estimate": 1.0},
                                         {"name": "t", "cost_estimate": 4.0}]},
        "domain": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "objectives": [{"metric": "f1"}, {"metric": "f2_loss"}],
        "constraints": [{"metric": "f1", "min": 0.2}],
        "policy": {"name": "mobo", "screen_share": 0.2, "tradeoff": {"f1": 2.0, "f2_loss": 1.0}}})

    def trial(mixture: dict[str, float], rung: str) -> tuple[dict[str, float], float]:
        a, b, c = mixture["a"], mixture["b"], mixture["c"]
        return {"f1": a + 0.1 * b, "f2_loss": (a - 0.3) ** 2 + c}, 1.0 if rung == "s" else 4.0

    study = Study(config)
    run_function(study, trial)
    rungs = study.runs["rung"].value_counts()
    assert rungs.get("s", 0) >= 1 and rungs.get("t", 0) >= 1
    weights = study.runs[["w:a", "w:b", "w:c"]].to_numpy()
    assert np.allclose(weights.sum(axis=1), 1) and (weights >= 0).all()
    rec = study.recommend_pareto()
    assert rec.feasible and all(p.predicted["f1"] >= 0.2 for p in rec.points)
    assert rec.tradeoff == {"f1": 2.0, "f2_loss": 1.0}
    assert study.recommend().mixture == rec.choice.mixture


def test_target_runs_are_chosen_without_compiling_botorchs_fused_kernel(fitted):
    """The study above built qLogNEHVIs for its target runs; BoTorch would have compiled its
    C++ kernel (45 s on a fresh cache) had admire not kept it on the pure-PyTorch path."""
    from botorch.acquisition.multi_objective import logei

    _, study = fitted
    assert (study.runs["rung"] == "Qwen2.5-7B").sum() >= 2  # NEHVI picks happened
    assert logei._load_attempted and logei._C is None
