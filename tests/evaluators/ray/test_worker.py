"""The proxy worker's charge for a trial that fails: the same measure as one that finishes."""

from __future__ import annotations

import time

import pytest

from admire.evaluators.ray.worker import ProxyWorker, Resources, TrialRequest
from admire.proxy.corpora import Corpora, CorpusConfig, build_corpora
from admire.schema.ladder import Rung

TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {"tokens": 8 * 32 * 40, "batch_size": 8, "seq_len": 32, "lr": 1e-2,
                  "eval_tokens": 1024}}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> Corpora:
    cfg = CorpusConfig(max_bytes=30_000, max_doc_chars=4_000)
    return build_corpora(["math", "code"], cfg, cache_dir=tmp_path_factory.mktemp("cache"))


class _Loaded:
    """A corpora source that hands over corpora already built (no rebuild in the test)."""

    def __init__(self, corpora: Corpora) -> None:
        self.corpora = corpora

    def load(self) -> Corpora:
        return self.corpora


def _waits_then_fails(corpora, request, device):
    time.sleep(0.6)  # e.g. stalled on a busy machine: time passes, nothing is computed
    raise RuntimeError("diverged")


def test_a_failed_cpu_trial_is_charged_the_cpu_it_used_not_the_time_it_waited(corpora):
    worker = ProxyWorker(_Loaded(corpora), Resources(1.0), _waits_then_fails)  # type: ignore[arg-type]
    rung = Rung(name="r0", cost_estimate=1.0, fidelity=1.0, spec=TINY)
    t0 = time.perf_counter()
    reply = worker.run(TrialRequest(0, {"math": 0.5, "code": 0.5}, rung))
    assert reply["error"] == "RuntimeError: diverged"
    assert time.perf_counter() - t0 >= 0.6
    assert 0 <= reply["cost"] < 0.3, reply
