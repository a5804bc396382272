"""What one loaded index costs per passage: memory of a serving process, and disk.

Usage::

    python -m benchmarks.footprint [--copies 30] [--index-type flat|hnsw]

Builds an index of the eval paragraphs repeated ``copies`` times (30: about 23,000
passages) with a hashing embedder of MiniLM's width (384 floats: the same bytes per
vector as the real model, no model run), then, in a fresh process, measures the
resident memory that ``load_index`` adds and the size on disk, per passage and scaled
to a million passages.  Every bot replica holds one such loaded index (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.corpus import REPO, _articles

DIMENSION = 384  # all-MiniLM-L6-v2


class HashEmbedder:
    """Deterministic vectors of the real model's width: memory does not depend on what they mean."""

    name = "footprint-hash-384"
    dimension = DIMENSION

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split() or ["<empty>"]:
                out[row, int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % DIMENSION] += 1
            out[row] /= np.linalg.norm(out[row])
        return out


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(index_dir: str) -> None:
    """In a fresh process: resident memory added by loading the index."""
    from retrieval.load import load_index

    import faiss  # noqa: F401  (its import is not the index's memory)

    base = _rss_mb()
    index = load_index(Path(index_dir), HashEmbedder.name)
    print(json.dumps({"rss_mb": _rss_mb() - base, "counts": index.manifest["counts"]}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.footprint", description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30, help="times the eval paragraphs are repeated (default 30)")
    parser.add_argument("--index-type", default="flat", choices=("flat", "hnsw"))
    args = parser.parse_args(argv)

    from core.config import load_config
    from index.build import build_index
    from index.store import current_dir

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seeds = root / "seeds"
        seeds.mkdir()
        for copy in range(args.copies):
            for number, (title, paragraphs) in enumerate(_articles()):
                text = f"{title} (copy {copy})\n\n" + "\n\n".join(paragraphs) + "\n"
                (seeds / f"c{copy:03d}-{number:03d}.txt").write_text(text, encoding="utf-8")
        (root / "config.toml").write_text(
            f'[seeds]\ndir = "seeds"\n[index]\ndir = "index"\nmodel = "{HashEmbedder.name}"\nindex_type = "{args.index_type}"\n',
            encoding="utf-8",
        )
        config = load_config(root / "config.toml")
        build_index(config, HashEmbedder(), multilingual=None)
        version = current_dir(config.index.dir)
        disk_mb = sum(p.stat().st_size for p in version.rglob("*") if p.is_file()) / 1e6
        files = {
            path.name: round(sum(f.stat().st_size for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file()) / 1e6, 1)
            for path in sorted(version.iterdir())
        }
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.footprint", "--probe", str(config.index.dir)],
            capture_output=True, text=True, cwd=REPO, check=True,
        )
        measured = json.loads(result.stdout.strip().splitlines()[-1])
    passages, sentences = measured["counts"]["passages"], measured["counts"]["sentences"]
    per_million = 1e6 / passages
    print(json.dumps({
        "index_type": args.index_type,
        "passages": passages,
        "sentences": sentences,
        "sentences_per_passage": round(sentences / passages, 2),
        "rss_mb": round(measured["rss_mb"], 1),
        "disk_mb": round(disk_mb, 1),
        "rss_gb_per_million_passages": round(measured["rss_mb"] * per_million / 1000, 2),
        "disk_gb_per_million_passages": round(disk_mb * per_million / 1000, 2),
        "disk_mb_by_file": files,
    }, indent=2))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(sys.argv[2])
    else:
        sys.exit(main())
