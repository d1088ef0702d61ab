"""A real ``torch.compile`` of a proxy (inductor on CPU): about a minute on a 2-core machine, so
it runs when ``ADMIRE_TEST_COMPILE=1`` (test_train.py checks the wiring in every run)."""

from __future__ import annotations

import os

import pytest

from admire.proxy.corpora import CorpusConfig, build_corpora
from admire.proxy.train import ProxySpec, train_proxy

TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {"tokens": 8 * 32 * 6, "batch_size": 8, "seq_len": 32, "lr": 1e-2,
                  "eval_tokens": 256}}


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("ADMIRE_TEST_COMPILE") != "1",
                    reason="set ADMIRE_TEST_COMPILE=1 (compiling takes about a minute)")
def test_compiled_training_matches_eager_training(tmp_path):
    corpora = build_corpora(["math", "code"], CorpusConfig(max_bytes=20_000), cache_dir=tmp_path)
    mix = {"math": 0.5, "code": 0.5}
    eager = train_proxy(corpora, mix, ProxySpec.from_dict(TINY), seed=1)
    spec = ProxySpec.from_dict({**TINY, "train": {**TINY["train"], "compile": True}})
    compiled = train_proxy(corpora, mix, spec, seed=1)
    for d in corpora.names:
        assert compiled.val_loss[d] == pytest.approx(eager.val_loss[d], abs=1e-3)
