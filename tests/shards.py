"""Writers of user-domain shards (Parquet, JSONL, saved datasets) and a local tokenizer folder,
for the proxy data tests (the ``shards`` fixture in conftest.py hands them out)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_WORDS = ("alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "ember", "lattice",
          "quartz", "meadow", "signal", "vector", "harbor", "cipher", "orbit")


def docs(n: int, seed: int = 0, words: int = 40) -> list[str]:
    """``n`` distinct seeded documents of a few hundred bytes (some with non-ASCII text)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        body = " ".join(rng.choice(_WORDS) for _ in range(words))
        out.append(f"doc {seed}-{i}: {body}" + (" café ünï" if i % 7 == 0 else "") + "\n")
    return out


def parquet_shards(root: Path, texts: list[str], n_shards: int, column: str = "text",
                   row_group_size: int = 16) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        part = texts[s::n_shards]
        table = pa.table({column: part, "id": list(range(len(part)))})
        pq.write_table(table, root / f"part-{s:05d}.parquet", row_group_size=row_group_size)
    return root


def jsonl_shards(root: Path, texts: list[str], n_shards: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        lines = [json.dumps({"text": t, "meta": {"shard": s}}) for t in texts[s::n_shards]]
        (root / f"part-{s:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def saved_dataset(root: Path, texts: list[str]) -> Path:
    from datasets import Dataset

    Dataset.from_dict({"text": texts}).save_to_disk(str(root))
    return root


def tokenizer_folder(root: Path, texts: list[str], vocab_size: int = 400) -> Path:
    """A Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json), built locally."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                            bos_token="<|endoftext|>").save_pretrained(str(root))
    return root
