"""Benchmark inputs from the eval sets: a 100-document seeds folder, questions, and cached embeddings."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"  # gitignored: timings, caches, synthetic data
CACHE = RESULTS / "cache"


def eval_dir() -> Path:
    """The eval sets: $DOCQA_EVAL if set, else the copy shipped in the project's eval/ folder."""
    for candidate in (os.environ.get("DOCQA_EVAL"), REPO / "eval"):
        if candidate and (Path(candidate) / "xquad_en" / "docs").is_dir():
            return Path(candidate)
    raise SystemExit("benchmarks need the eval sets (set DOCQA_EVAL to the folder holding xquad_en/)")


def _articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of every eval document, both sets."""
    out = []
    for name in ("xquad_en", "squad2_dev5"):
        for path in sorted((eval_dir() / name / "docs").glob("*.txt")):
            blocks = [b.strip() for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
            out.append((blocks[0], blocks[1:]))
    return out


def write_seeds(folder: Path, documents: int = 100) -> list[Path]:
    """Spread the eval paragraphs over ``documents`` files (title line, blank-line paragraphs)."""
    paragraphs = [(title, p) for title, paras in _articles() for p in paras]
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(paragraphs), documents + 1).astype(int)
    paths = []
    for n in range(documents):
        group = paragraphs[bounds[n] : bounds[n + 1]]
        path = folder / f"doc{n:03d}.txt"
        path.write_text(f"{group[0][0]} (part {n + 1})\n\n" + "\n\n".join(p for _, p in group) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def questions(limit: int | None = None) -> list[str]:
    """Answerable xquad_en questions, in file order."""
    out = []
    with (eval_dir() / "xquad_en" / "questions.jsonl").open(encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line)["question"])
    return out[:limit]


def xling_questions(languages=("es", "de", "ru", "zh", "el", "vi")) -> list[str]:
    """The same questions in other languages (xquad_xling), interleaved language by language."""
    per_language = []
    for lang in languages:
        path = eval_dir() / "xquad_xling" / f"{lang}.jsonl"
        if path.is_file():
            per_language.append([json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
    return [q for group in zip(*per_language) for q in group]


def centre_texts() -> list[str]:
    """Every eval passage-sized paragraph and every sentence: a few thousand real texts."""
    from core.text import split_sentences

    texts = []
    for _, paragraphs in _articles():
        for p in paragraphs:
            texts.append(p)
            texts.extend(p[a:b] for a, b in split_sentences(p) if b - a > 20)
    return texts


def cached_embeddings(label: str, texts: list[str], embedder) -> np.ndarray:
    """``embedder.encode(texts)``, cached under benchmarks/results/cache by content."""
    key = hashlib.sha256(("\0".join([embedder.name, *texts])).encode()).hexdigest()[:16]
    path = CACHE / f"{label}-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = embedder.encode(texts, batch_size=64)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors
