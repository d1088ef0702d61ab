"""The proxy worker's charge for a trial that fails: the same measure as one that finishes."""

from __future__ import annotations

import time

import pytest

from admire.evaluators.ray.worker import CorporaSource, ProxyWorker, Resources, TrialRequest
from admire.proxy.corpora import CorpusConfig, build_corpora
from admire.schema.ladder import Rung

TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {"tokens": 8 * 32 * 40, "batch_size": 8, "seq_len": 32, "lr": 1e-2,
                  "eval_tokens": 1024}}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> CorporaSource:
    """Small built corpora, handed to the worker the way `admire tune` does."""
    cfg = CorpusConfig(max_bytes=30_000, max_doc_chars=4_000)
    cache = tmp_path_factory.mktemp("cache")
    domains = {"math": "math", "code": "code"}
    corpora = build_corpora(list(domains), cfg, cache_dir=cache)
    return CorporaSource.of(corpora, domains, cfg, str(cache))


def _waits_then_fails(corpora, request, device):
    time.sleep(0.6)  # e.g. stalled on a busy machine: time passes, nothing is computed
    raise RuntimeError("diverged")


def test_a_failed_cpu_trial_is_charged_the_cpu_it_used_not_the_time_it_waited(source):
    worker = ProxyWorker(source, Resources(1.0), _waits_then_fails)
    rung = Rung(name="r0", cost_estimate=1.0, fidelity=1.0, spec=TINY)
    t0 = time.perf_counter()
    reply = worker.run(TrialRequest(0, {"math": 0.5, "code": 0.5}, rung))
    assert reply["error"] == "RuntimeError: diverged"
    assert time.perf_counter() - t0 >= 0.6
    assert 0 <= reply["cost"] < 0.3, reply
