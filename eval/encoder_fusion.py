"""Measure fusing a second multilingual encoder (USE v3) into the cross-language path's cosines.

How the shipped ``core.multilingual.USE_WEIGHT`` was chosen: each weight is tried on an index
of e5's vectors alone, USE's added beside them here, so one build serves every weight.

Usage (from the repository root)::

    python -m eval.encoder_fusion                         # weights 0, 0.05, 0.1, 0.25; all six languages
    python -m eval.encoder_fusion --weights 0,0.1 --languages zh,de
    python -m eval.encoder_fusion --docs eval/xquad_zh/docs \
        --questions eval/xquad_zh/questions.jsonl --questions eval/xquad_zh/questions_en.jsonl

Builds a temporary index of the ``xquad_en`` articles (or ``--docs``) with the shipped config (English and
multilingual vectors), then asks the ``xquad_xling`` questions on the multilingual path as
shipped (weight 0) and with every passage and sentence cosine replaced by
``e5 cosine (centred, as shipped) + weight * USE v3 cosine``: the two encoders' vectors
side by side, the USE part scaled by the square root of the weight, in one flat inner-product
index, so ranking, sentence choice and extracts all see the fused cosine.  Prints S@1 (the
chosen sentence holds a gold answer, declined or not) and P@3 (one of the three extracts does)
per language and weight.  The abstention evidence is then computed on the fused cosines too,
with models fitted on e5 alone, so declines are not reported: only the choice is measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
LANGUAGES = ("de", "es", "ru", "zh", "el", "vi")
WEIGHTS = (0.0, 0.05, 0.1, 0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.encoder_fusion", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=",".join(str(w) for w in WEIGHTS))
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="xquad_xling question files to ask")
    parser.add_argument("--docs", type=Path, default=ROOT / "xquad_en" / "docs")
    parser.add_argument("--questions", type=Path, action="append", help="question files instead of --languages")
    parser.add_argument("--config", type=Path, default=REPO / "config.toml")
    args = parser.parse_args(argv)
    import faiss

    from core.config import E5_SMALL, load_config
    from core.embedder import load_embedder
    from core.multilingual import FusedEmbedder, QueryEncoder, load_multilingual, load_use
    from index.build import build_index
    from retrieval.crosslingual import Crosslingual, centring
    from retrieval.index_store import MULTILINGUAL
    from retrieval.load import load_index

    config = load_config(args.config)
    embedder = load_embedder(config.index.model)
    e5 = load_multilingual(E5_SMALL)
    use = load_use(threads=2)  # its files checked

    def use_vectors(texts: list[str]) -> np.ndarray:
        return np.vstack([use.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)])

    with tempfile.TemporaryDirectory(prefix="fusion-") as tmp:
        shutil.copytree(args.docs, Path(tmp) / "docs")
        build_index(config, embedder, multilingual=e5, seeds_dir=Path(tmp) / "docs", index_dir=Path(tmp) / "index",
                    progress=lambda done, total: None)
        index = load_index(Path(tmp) / "index", embedder.name)
        try:
            shipped = index.vector_set(MULTILINGUAL, centring(index.multilingual.model))
            sentences = {sid: s.text for doc in index.languages for sid, s in index.doc_sentences(doc)}
            passages = index.passages(list(range(int(index.manifest["counts"]["passages"]))))
            use_passages = use_vectors([p.text for p in passages])
            use_sentences = use_vectors([sentences[i] for i in range(len(sentences))])
            files = args.questions or [ROOT / "xquad_xling" / f"{language}.jsonl" for language in args.languages.split(",")]
            for path in files:
                questions = [json.loads(line) for line in path.open(encoding="utf-8")]
                for weight in (float(w) for w in args.weights.split(",")):
                    crosslingual = Crosslingual(index, e5, config.retrieval)
                    if weight > 0:
                        scale = float(np.sqrt(weight))
                        vectors = np.hstack([shipped.vectors, scale * use_passages]).astype(np.float32)
                        flat = faiss.IndexFlatIP(vectors.shape[1])
                        flat.add(vectors)
                        sentence_vectors = np.hstack([shipped.sentence_vectors, scale * use_sentences]).astype(np.float32)
                        view = dataclasses.replace(shipped, faiss_index=flat, vectors=vectors, sentence_vectors=sentence_vectors)
                        # The shipped encoder's question side at this weight, every question fused.
                        queries = QueryEncoder(FusedEmbedder(e5, use, weight), fuse=lambda question: True)
                        for retriever in (crosslingual.same, crosslingual.cross):
                            retriever.index, retriever.embedder = view, queries
                    s1 = p3 = 0
                    for q in questions:
                        answer = crosslingual.answer(q["question"], top_k=3)
                        gold = [g.lower() for g in q["answers"]]
                        s1 += any(g in answer.candidate.text.lower() for g in gold)
                        p3 += any(any(g in e.text.lower() for g in gold) for e in answer.extracts[:3])
                    print(f"{path.name} weight {weight:g}: S@1 {s1 / len(questions):.3f} P@3 {p3 / len(questions):.3f} "
                          f"({len(questions)} questions)", flush=True)
        finally:
            index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
