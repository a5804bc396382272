"""Measure adding a second encoder's question-sentence cosine to the English sentence score.

Issue 13 asks for reader-phrased questions answered with the right sentence.  The sentence is
chosen by one linear score over MiniLM's cosine, word coverage and the rest
(``retrieval.retriever.SentenceWeights``); this asks whether a second bi-encoder that is
installed anyway for the multilingual path reads a question against a sentence better:
multilingual-e5-small (trained for question-to-passage retrieval, with its "query: " and
"passage: " prefixes) or USE v3 (trained on question-answer pairs among its tasks).

Usage (from the repository root)::

    python -m eval.second_encoder                       # both encoders, weights 0,0.5,1,2, the fit sets
    python -m eval.second_encoder --encoders e5 --weights 0,2 --sets xquad,probes_seed

Each set gets a temporary English index (the shipped config, multilingual path off); every
answerable question is asked through ``Retriever.answer`` with each candidate sentence's score
raised by ``weight * cosine(question, sentence)`` under the second encoder.  Prints S@1, P@3
and the share declined (the abstention evidence then sees the raised scores, with the model
fitted without them).  Fit sets (to choose a weight): squad2_dev5 and the reader-phrased
``eval/paraphrase_fit`` questions; report sets: xquad_en and the probes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
SETS = {
    # name: (documents, questions); the first three are the fit sets
    "squad2_dev5": ("squad2_dev5/docs", "squad2_dev5/questions.jsonl"),
    "paraphrase_fit": ("squad2_dev5/docs", "paraphrase_fit/questions.jsonl"),
    "paraphrase_fit_xquad": ("xquad_en/docs", "paraphrase_fit/xquad.jsonl"),
    "xquad": ("xquad_en/docs", "xquad_en/questions.jsonl"),
    "probes_seed": ("../seeds", "probes/seed.jsonl"),
    "probes_xquad": ("xquad_en/docs", "probes/xquad.jsonl"),
}
FIT_SETS = ("squad2_dev5", "paraphrase_fit", "paraphrase_fit_xquad")


class Cosines:
    """Unit vectors of one encoder, memoised by text; questions and sentences encoded by their own functions."""

    def __init__(self, question_side, sentence_side):
        self._sides = {"question": (question_side, {}), "sentence": (sentence_side, {})}

    def of(self, side: str, texts: list[str]) -> np.ndarray:
        encode, cache = self._sides[side]
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            vectors = np.asarray(encode(missing), dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            cache.update(zip(missing, vectors))
        return np.stack([cache[t] for t in texts])


def load_encoder(name: str) -> Cosines:
    from core.config import E5_SMALL
    from core.multilingual import load_multilingual, load_use

    if name == "use":
        use = load_use(threads=2)  # its files checked
        return Cosines(use.encode, use.encode)
    e5 = load_multilingual(E5_SMALL)
    return Cosines(e5.encode_queries, e5.encode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.second_encoder", description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="e5,use", help="e5, use or both")
    parser.add_argument("--weights", default="0,0.5,1,2")
    parser.add_argument("--sets", default=",".join(FIT_SETS), help=f"any of {', '.join(SETS)}")
    parser.add_argument("--config", type=Path, default=REPO / "config.toml")
    args = parser.parse_args(argv)
    from core.config import load_config
    from core.embedder import load_embedder
    from index.build import build_index
    from retrieval.evaluate import CachedEmbedder, precision_at_k, read_questions, success_at_1
    from retrieval.index_store import open_index
    from retrieval.retriever import Retriever

    weights = [float(w) for w in args.weights.split(",")]
    names = args.sets.split(",")
    unknown = [n for n in names if n not in SETS]
    if unknown:
        parser.error(f"unknown set {unknown[0]!r}; choose from {', '.join(SETS)}")
    config = load_config(args.config)
    config = dataclasses.replace(config, index=dataclasses.replace(config.index, multilingual_model=""))
    embedder = CachedEmbedder(load_embedder(config.index.model))
    encoders = {name: load_encoder(name) for name in args.encoders.split(",")}
    print("| set | encoder | weight | questions | S@1 | P@3 | declined |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        docs, path = SETS[name]
        questions = [q for q in read_questions(ROOT / path) if q.answers]
        with tempfile.TemporaryDirectory(prefix="second-encoder-") as tmp:
            build_index(config, embedder, multilingual=None, seeds_dir=(ROOT / docs).resolve(), index_dir=Path(tmp),
                        progress=lambda done, total: None)
            index = open_index(config, embedder.name, Path(tmp))
            try:
                embedder.prime([" ".join(q.question.split()) for q in questions])
                for encoder_name, cosines in encoders.items():
                    retriever = Retriever(index, embedder, config.retrieval)
                    plain = retriever.score_sentences
                    weight = 0.0

                    def raised(question, q_vector, q_terms, hits, term_weights=None):
                        scored = plain(question, q_vector, q_terms, hits, term_weights)
                        if not scored or not weight:
                            return scored
                        extra = cosines.of("sentence", [s.sentence.text for s in scored]) @ cosines.of("question", [question])[0]
                        return [dataclasses.replace(s, score=s.score + weight * float(c)) for s, c in zip(scored, extra)]

                    retriever.score_sentences = raised
                    for weight in weights:
                        s1 = p3 = declined = 0
                        for q in questions:
                            answer = retriever.answer(q.question, top_k=3)
                            s1 += success_at_1(answer, q.answers)
                            p3 += precision_at_k(answer, q.answers, 3)
                            declined += not answer.answered
                        n = len(questions)
                        print(f"| {name} | {encoder_name} | {weight:g} | {n} | {s1 / n:.3f} | {p3 / n:.3f} | {declined / n:.3f} |",
                              flush=True)
            finally:
                index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
