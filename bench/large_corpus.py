"""Corpora at real size: several GB of Parquet and JSONL shards through the whole data pipeline.

1. Generate a corpus of ``--gb`` GB on disk (default 5.2) under ``--root``: five domains of text
   synthesised from the built-in domains (windows of lines from two source documents, words
   swapped by a seeded per-document rule), code and legal as snappy Parquet shards, dialogue,
   scripture and math as JSONL shards.
2. Build the corpora (byte tokenizer) in a fresh process: tokenization throughput, the passes'
   times, peak RSS of the tokenizing process.
3. Build again in a fresh process: the cache-hit time.
4. A worker in a fresh process (torch and transformers imported, as in a Ray actor) opens the
   corpora from the manifest and samples one trial of each ``fidelities/cpu-tiny.toml`` rung
   (reading every window): RSS (peak, anonymous, file-backed) and sampling seconds per trial,
   once with the token files in the page cache and once after evicting them.
5. A subword build: a byte-level BPE (``--bpe-vocab``) trained on a seeded sample and applied to
   the first ``--bpe-mb`` MB of every domain (all of it only where the machine is fast enough).

Writes ``bench/results/large_corpus.{json,md}`` (or ``--out``) and deletes the corpus and its
cache unless ``--keep``. Run it niced on a shared machine:

    nice -n 19 .venv/bin/python bench/large_corpus.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from admire.proxy.data.config import CorpusConfig
from admire.proxy.data.sources import read_domain_texts, resolve_domains

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
LAYOUT = {"code": "parquet", "legal": "parquet", "dialogue": "jsonl", "scripture": "jsonl",
          "math": "jsonl"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# 1. The corpus
# --------------------------------------------------------------------------------------------


class Synth:
    """Seeded documents that look like a built-in domain but do not repeat it."""

    def __init__(self, domain: str, seed: int) -> None:
        docs = read_domain_texts(resolve_domains([domain])[0], CorpusConfig())
        self.docs = [d.splitlines(keepends=True) for d in docs if d.count("\n") >= 4]
        words: dict[str, int] = {}
        for lines in self.docs[:200]:
            for w in "".join(lines).split():
                if w.isalpha() and len(w) > 3:
                    words[w] = words.get(w, 0) + 1
        self.words = sorted(words, key=lambda w: -words[w])[:400]
        self.rng = random.Random(f"{seed}:{domain}")

    def _window(self) -> list[str]:
        lines = self.rng.choice(self.docs)
        n = self.rng.randint(min(4, len(lines)), len(lines))
        start = self.rng.randint(0, len(lines) - n)
        return lines[start:start + n]

    def doc(self) -> str:
        text = "".join(self._window() + self._window())
        for _ in range(3):  # a seeded word swap per document: same style, new text
            a, b = self.rng.sample(self.words, 2)
            text = text.replace(f" {a} ", f" {b} ")
        return text


def generate(root: Path, gb: float, shard_mb: float, seed: int) -> dict[str, Any]:
    """Write about ``gb`` GB of shards (equal shares per domain); returns what was written."""
    root.mkdir(parents=True, exist_ok=True)
    per_domain = gb * 1e9 / len(LAYOUT)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    for domain, kind in LAYOUT.items():
        folder = root / domain
        folder.mkdir(exist_ok=True)
        synth = Synth(domain, seed)
        disk = text = docs = shard = 0
        while disk < per_domain:
            rows, size = [], 0
            while size < shard_mb * 1e6:
                d = synth.doc()
                rows.append(d)
                size += len(d.encode("utf-8"))
            path = folder / f"part-{shard:05d}.{kind}"
            if kind == "parquet":
                pq.write_table(pa.table({"text": rows}), path, compression="snappy")
            else:
                with open(path, "w", encoding="utf-8") as f:
                    for i, d in enumerate(rows):
                        f.write(json.dumps({"text": d, "id": f"{domain}-{shard}-{i}"},
                                           ensure_ascii=False) + "\n")
            disk += path.stat().st_size
            text, docs, shard = text + size, docs + len(rows), shard + 1
            log(f"generate {domain}: shard {shard}, {disk / 1e9:.2f} of "
                f"{per_domain / 1e9:.2f} GB on disk")
        out[domain] = {"format": kind, "shards": shard, "disk_bytes": disk, "text_bytes": text,
                       "documents": docs, "path": str(folder)}
    return {"domains": out, "seconds": round(time.perf_counter() - t0, 1),
            "disk_bytes": sum(d["disk_bytes"] for d in out.values()),
            "text_bytes": sum(d["text_bytes"] for d in out.values())}


# --------------------------------------------------------------------------------------------
# 2-5. Fresh processes that build, hit the cache, and sample like a worker
# --------------------------------------------------------------------------------------------

_STATUS = """
def status():
    f = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(f[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
"""

BUILD = _STATUS + """
import json, logging, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
args = json.loads(sys.argv[1])
from admire.proxy.corpora import CorpusConfig, build_corpora
cfg = CorpusConfig(**args["config"])
t0 = time.perf_counter()
corpora = build_corpora(args["domains"], cfg, cache_dir=args["cache"])
seconds = time.perf_counter() - t0
meta = {n: json.loads((d.path / "admire_meta.json").read_text())
        for n, d in corpora.domains.items()}
print(json.dumps({"seconds": seconds, "status": status(), "manifest": corpora.manifest(),
                  "vocab_size": corpora.tokenizer.vocab_size,
                  "train_tokens": corpora.available_tokens(),
                  "validation_tokens": corpora.validation_tokens(),
                  "build": {n: m["build"] for n, m in meta.items()},
                  "dtype": {n: m["dtype"] for n, m in meta.items()}}))
"""

WORKER = _STATUS + """
import json, sys, time, tomllib
args = json.loads(sys.argv[1])
import torch
torch.set_num_threads(1)
import admire.proxy.train  # the model stack, as a Ray worker imports it
from admire.proxy.corpora import Corpora
from admire.proxy.sampler import plan_mixture, sample_mixture
from admire.proxy.spec import ProxySpec
before = status()
t0 = time.perf_counter()
corpora = Corpora.from_manifest(args["manifest"])
open_s = time.perf_counter() - t0
opened = status()
ladder = tomllib.loads(open(args["ladder"], encoding="utf-8").read())
weights = {n: 1 / len(corpora.names) for n in corpora.names}
trials = []
for rung in ladder["rung"]:
    tr = ProxySpec.from_dict(rung, name=rung["name"]).train
    t0 = time.perf_counter()
    plan = plan_mixture(weights, corpora.available_tokens(), tr.tokens, tr.seq_len)
    sample = sample_mixture({n: d.train for n, d in corpora.domains.items()}, plan, seed=0)
    n = sum(int(b.shape[0]) for b in sample.batches(tr.batch_size))
    for name, dom in corpora.domains.items():  # the evaluation reads each validation prefix
        dom.validation[: tr.eval_tokens].astype("int64")
    trials.append({"rung": rung["name"], "tokens": tr.tokens, "sequences": n,
                   "seconds": time.perf_counter() - t0, "status": status()})
print(json.dumps({"before_open": before, "after_open": opened, "open_seconds": open_s,
                  "trials": trials, "end": status()}))
"""


def child(code: str, args: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Run ``code`` in a fresh interpreter; its last stdout line is JSON. Logs pass through."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], env=env, text=True,
                          stdout=subprocess.PIPE, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def evict(cache: Path) -> None:
    """Drop this cache's token files from the page cache (other files are not touched)."""
    for path in cache.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def summarize_build(result: dict[str, Any], wall: float, text_bytes: int, threads: str
                    ) -> dict[str, Any]:
    tokens = sum(result["train_tokens"].values()) + sum(result["validation_tokens"].values())
    count_s = sum(b["count_seconds"] for b in result["build"].values())
    tok_s = sum(b["tokenize_seconds"] for b in result["build"].values())
    built = sum(b["text_bytes"] for b in result["build"].values())
    return {"seconds_in_build_corpora": round(result["seconds"], 2),
            "process_seconds": round(wall, 2), "text_bytes": built,
            "source_text_bytes": text_bytes, "tokens": tokens, "vocab_size": result["vocab_size"],
            "dtype": sorted(set(result["dtype"].values())), "count_pass_seconds": round(count_s, 1),
            "tokenize_pass_seconds": round(tok_s, 1),
            "tokenize_mb_per_s": round(built / 1e6 / tok_s, 2) if tok_s else None,
            "tokenize_tokens_per_s": round(tokens / tok_s) if tok_s else None,
            "end_to_end_mb_per_s": round(built / 1e6 / result["seconds"], 2),
            "other_seconds": round(result["seconds"] - count_s - tok_s, 1),
            "threads": threads, "peak_rss_bytes": result["status"]["VmHWM"],
            "per_domain": result["build"]}


def summarize_hit(result: dict[str, Any], wall: float) -> dict[str, Any]:
    return {"seconds_in_build_corpora": round(result["seconds"], 3),
            "process_seconds": round(wall, 2), "peak_rss_bytes": result["status"]["VmHWM"]}


def summarize_worker(result: dict[str, Any], wall: float) -> dict[str, Any]:
    return {"process_seconds": round(wall, 2), "open_seconds": round(result["open_seconds"], 4),
            "rss_before_open": result["before_open"]["VmRSS"],
            "rss_after_open": result["after_open"]["VmRSS"],
            "peak_rss": result["end"]["VmHWM"], "anon_rss_end": result["end"]["RssAnon"],
            "file_rss_end": result["end"]["RssFile"],
            "trials": [{"rung": t["rung"], "tokens": t["tokens"], "sequences": t["sequences"],
                        "seconds": round(t["seconds"], 3), "rss": t["status"]["VmRSS"],
                        "anon_rss": t["status"]["RssAnon"]} for t in result["trials"]]}


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def markdown(r: dict[str, Any]) -> str:
    g, b, h = r["corpus"], r["build"], r["cache_hit"]
    lines = [
        "# Large corpus: shards through the corpora pipeline", "",
        f"{r['date']}, {r['machine']['cpu']} ({r['machine']['cores']} cores, "
        f"{r['machine']['ram_gb']} GB RAM, shared with other work: load average "
        f"{r['machine']['load_start']} at the start, {r['machine']['load_end']} at the end). "
        "No GPU was available. Command:", "", f"    {r['command']}", "",
        "## Corpus", "",
        f"{g['disk_bytes'] / 1e9:.2f} GB on disk ({g['text_bytes'] / 1e9:.2f} GB of text) in "
        f"{sum(d['shards'] for d in g['domains'].values())} shards, generated in "
        f"{g['seconds']:.0f} s:", "",
        "| domain | format | shards | on disk | text | documents |", "|---|---|---|---|---|---|"]
    for n, d in g["domains"].items():
        lines.append(f"| {n} | {d['format']} | {d['shards']} | {_mb(d['disk_bytes'])} | "
                     f"{_mb(d['text_bytes'])} | {d['documents']:,} |")
    lines += ["", "## Builds (fresh process each)", "",
              "| build | text | tokens | count pass s | tokenize pass s | tokenize MB/s | "
              "tokens/s | other s | build_corpora s | peak RSS | threads |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, key in (("byte, whole corpus", "build"), ("BPE, capped", "bpe_build")):
        x = r[key]
        lines.append(f"| {label} | {_mb(x['text_bytes'])} | {x['tokens']:,} | "
                     f"{x['count_pass_seconds']} | {x['tokenize_pass_seconds']} | "
                     f"{x['tokenize_mb_per_s']} | {x['tokenize_tokens_per_s']:,} | "
                     f"{x['other_seconds']} | {x['seconds_in_build_corpora']} | "
                     f"{_mb(x['peak_rss_bytes'])} | {x['threads']} |")
    lines += ["", f"BPE: vocabulary {r['bpe_build']['vocab_size']:,}, trained on a seeded "
              f"{r['bpe']['sample_mb']} MB sample, applied to the first {r['bpe']['mb']} MB of "
              "each domain ('other s' is mostly its training).", "",
              f"Cache hit (second byte build, fresh process): {h['seconds_in_build_corpora']} s "
              f"in build_corpora, {h['process_seconds']} s for the whole process (imports "
              f"included), peak RSS {_mb(h['peak_rss_bytes'])}; BPE build cache hit "
              f"{r['bpe_cache_hit']['seconds_in_build_corpora']} s.", "",
              f"Token files: {_mb(b['tokens'] * 2)} ({', '.join(b['dtype'])}). The byte "
              "build's tokenize pass includes reading the shards a second time and writing "
              "the token files; the count pass reads them once (the seeded split needs the "
              f"document count). The corpus and cache were deleted after the run.", "",
              "## A worker: open from the manifest, sample one trial per cpu-tiny rung", "",
              "A fresh process imports torch and transformers (as a Ray worker does), opens "
              "every domain from the manifest, and for each rung draws a uniform mixture "
              "(seed 0) and reads all its windows plus each domain's evaluation prefix. "
              "'anon' is the process's private memory; RSS also counts the page-cache pages "
              "it maps (shared with every process mapping the files, and reclaimable), and "
              "the shared libraries. Warm: the token files were just written, so the page "
              "cache holds them in large folios and reading one 256-byte window maps a whole "
              "folio. Cold: the files were evicted from the page cache first (train files "
              "are mapped with MADV_RANDOM, so a window reads about a page).", "",
              "| page cache | RSS before open | after open | open s | peak RSS | anon at end "
              "| file-backed at end | sampling s per trial |", "|---|---|---|---|---|---|---|---|"]
    for label, key in (("warm", "worker_warm"), ("cold", "worker_cold")):
        w = r[key]
        per = ", ".join(f"{t['rung']} {t['seconds']}" for t in w["trials"])
        lines.append(f"| {label} | {_mb(w['rss_before_open'])} | {_mb(w['rss_after_open'])} | "
                     f"{w['open_seconds']} | {_mb(w['peak_rss'])} | {_mb(w['anon_rss_end'])} | "
                     f"{_mb(w['file_rss_end'])} | {per} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("/work/scratch-corpus"))
    ap.add_argument("--gb", type=float, default=5.2, help="corpus size on disk")
    ap.add_argument("--shard-mb", type=float, default=100.0, help="text per shard")
    ap.add_argument("--bpe-mb", type=float, default=60.0, help="text per domain for the BPE")
    ap.add_argument("--bpe-vocab", type=int, default=8192)
    ap.add_argument("--bpe-sample-mb", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--keep", action="store_true", help="keep the corpus and cache")
    args = ap.parse_args(argv)
    load_start = [round(x, 2) for x in os.getloadavg()]
    root, cache = args.root, args.root / "cache"
    threads = os.environ.get("RAYON_NUM_THREADS") or str(os.cpu_count())
    try:
        corpus = generate(root, args.gb, args.shard_mb, args.seed)
        domains = {n: d["path"] for n, d in corpus["domains"].items()}
        big = {"max_bytes": 10**13, "max_files": 100_000, "seed": args.seed}
        log("build 1: byte tokenizer, whole corpus")
        res, wall = child(BUILD, {"domains": domains, "config": big, "cache": str(cache)})
        build = summarize_build(res, wall, corpus["text_bytes"], "1 (numpy)")
        log(f"build 1 done: {build['tokenize_mb_per_s']} MB/s")
        hit, wall = child(BUILD, {"domains": domains, "config": big, "cache": str(cache)})
        cache_hit = summarize_hit(hit, wall)
        log(f"build 2 (cache hit): {cache_hit['seconds_in_build_corpora']:.2f} s")
        ladder = str(REPO / "fidelities" / "cpu-tiny.toml")
        warm, wall = child(WORKER, {"manifest": res["manifest"], "ladder": ladder})
        worker_warm = summarize_worker(warm, wall)
        evict(cache)
        cold, wall = child(WORKER, {"manifest": res["manifest"], "ladder": ladder})
        worker_cold = summarize_worker(cold, wall)
        log(f"worker: peak RSS {worker_cold['peak_rss'] / 1e6:.0f} MB (cold)")
        bpe_cfg = {**big, "max_bytes": int(args.bpe_mb * 1e6), "tokenizer": "bpe",
                   "bpe_vocab_size": args.bpe_vocab,
                   "bpe_sample_bytes": int(args.bpe_sample_mb * 1e6)}
        log(f"build 3: BPE on the first {args.bpe_mb} MB of each domain")
        bres, wall = child(BUILD, {"domains": domains, "config": bpe_cfg, "cache": str(cache)})
        bpe_build = summarize_build(bres, wall, corpus["text_bytes"], threads)
        bhit, wall = child(BUILD, {"domains": domains, "config": bpe_cfg, "cache": str(cache)})
        bpe_hit = summarize_hit(bhit, wall)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), platform.processor())
    result = {
        "benchmark": "large_corpus", "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "nice -n 19 .venv/bin/python bench/large_corpus.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "machine": {"cpu": cpu, "cores": os.cpu_count(),
                    "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                    / 2**30, 1),
                    "platform": platform.platform(), "load_start": load_start,
                    "load_end": [round(x, 2) for x in os.getloadavg()], "gpu": None,
                    "tokenizer_threads": threads},
        "corpus": corpus, "build": build, "cache_hit": cache_hit, "worker_warm": worker_warm,
        "worker_cold": worker_cold, "bpe_build": bpe_build, "bpe_cache_hit": bpe_hit,
        "bpe": {"mb": args.bpe_mb, "vocab": args.bpe_vocab, "sample_mb": args.bpe_sample_mb},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "large_corpus.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "large_corpus.md").write_text(markdown(result))
    log(f"wrote {args.out / 'large_corpus.md'}")
    return result


if __name__ == "__main__":
    main()
