"""Test doubles: a deterministic fake embedder and config helpers.

``FakeEmbedder`` hashes words into a fixed-size vector (a bag of words with the
hashing trick), so texts sharing words are close, results are exact across runs,
and no model is loaded.  It counts what it embeds, which lets tests prove that an
incremental build re-embeds only what changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from core.config import load_config, Config
from core.text import words

SEED_ARTICLE = Path(__file__).resolve().parent.parent / "seeds" / "pakistan-us-counterterrorism-dialogue.txt"


class FakeEmbedder:
    def __init__(self, name: str = "fake-embedder", dimension: int = 64, fail_after: int | None = None):
        self.name = name
        self.dimension = dimension
        self.embedded: list[str] = []
        self.calls = 0
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("fake embedder failure")
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text) or ["<empty>"]:
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dimension] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out


def write_config(tmp_path: Path, extra: str = "", **sections: dict) -> Config:
    """Write a config.toml under ``tmp_path`` with seeds/ and data/index/ beside it, and load it."""
    (tmp_path / "seeds").mkdir(exist_ok=True)
    text = '[seeds]\ndir = "seeds"\n[index]\ndir = "data/index"\nmodel = "fake-embedder"\n'
    text += "passage_chars = 300\nmin_paragraph_chars = 80\n"
    text += "[retrieval]\nmin_score = 0.2\n" + extra
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)
