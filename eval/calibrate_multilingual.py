"""Fit the multilingual path's sentence weights and abstention model; report them on other languages.

Usage (from the repository root; about 20 minutes on 2 cores, most of it embedding)::

    python -m eval.calibrate_multilingual --labels correct --per-path [--work DIR]   # the shipped fit

``--work`` keeps the built indexes between runs (a later run re-embeds nothing).  Without
``--per-path`` one abstention model serves both paths; with ``--labels answerable`` every
answerable fit question is a positive (the fit shipped before 2026-12-02).

Fitted on two sets only:

- German questions against the English documents (``xquad_xling/de``): cross-lingual (with the
  fused encoder, twice: fused, for the "fused" model, and with e5 alone, for "cross");
- Russian questions against the Russian documents (``xquad_ru``): same language, not English.

Positives are those questions against all 48 articles (with ``--labels correct``, only
those whose chosen sentence holds the answer; the others join the negatives); negatives are the questions
about the 43 articles that are not among the five SQuAD 2.0 dev articles, asked against
those five (in English, ``squad2_dev5/docs``; in Russian, the five ``xquad_ru`` articles),
which is how ``squad2_dev5/out_of_corpus.jsonl`` is made.  Everything else is the check,
printed at the end: Spanish, Russian, Chinese, Greek and Vietnamese questions against the
English documents, Chinese against Chinese, English against Russian and Chinese, and the
out-of-corpus questions in Spanish and Russian.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.config import load_config
from core.embedder import load_embedder
from core.multilingual import QueryEncoder, load_multilingual
from index.build import build_index
from index.lexical import question_terms
from retrieval.crosslingual import ABSTAIN, DECISION, FEATURES as EVIDENCE, WEIGHTS, Crosslingual
from retrieval.evaluate import CachedEmbedder, CachedQueries, contains_answer, read_questions
from retrieval.load import load_index
from retrieval.retriever import EXTRACT_POOL, SENTENCE_POOL, Retriever

FEATURES = ("cosine", "coverage", "passage", "cue", "length", "antecedent")  # SentenceWeights' fields

ROOT = Path(__file__).resolve().parent
TOLERANCE = 0.005
NEGATIVES_DECLINED = 0.975  # the threshold is the lowest at which each fit negative set is declined this often
SHARED = {p.name for p in (ROOT / "squad2_dev5" / "docs").iterdir()}


def _docs(work: Path, name: str, source: Path, only: set[str] | None) -> Path:
    target = work / "docs" / name
    target.mkdir(parents=True, exist_ok=True)
    for p in source.iterdir():
        if only is None or p.name in only:
            (target / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def collect(retriever: Retriever, questions):
    """Per question: its candidate sentences' features, their labels, and what the evidence needs."""
    rows = []
    for q in questions:
        text = " ".join(q.question.split())
        vector = retriever.embedder.encode([text])[0]
        q_terms = question_terms(text)
        hits = retriever._rank(vector, q_terms, max(retriever.settings.candidates, EXTRACT_POOL))
        scored = [s for s in retriever.score_sentences(text, vector, q_terms, hits[:EXTRACT_POOL]) if s.rank < SENTENCE_POOL] if hits else []
        if not scored:
            rows.append(None)
            continue
        x = np.array([[getattr(s, f) for f in FEATURES] for s in scored])
        y = np.array([contains_answer(s.sentence.text, q.answers) for s in scored]) if q.answers else None
        rows.append((x, y, scored, hits, q_terms, text))
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 5000) -> tuple[np.ndarray, float]:
    """Plain gradient-descent logistic regression on standardised features; returns raw-scale weights."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        grad = p - y
        w -= 0.5 * (z.T @ grad / len(y) + l2 * w)
        b -= 0.5 * grad.mean()
    raw = w / std
    return raw, float(b - (mean * raw).sum())


def _evidence(retriever, rows, w) -> np.ndarray:
    out = []
    for row in rows:
        if row is None:
            out.append(np.zeros(len(EVIDENCE)))
            continue
        x, _, scored, hits, q_terms, text = row
        best = scored[int(np.argmax(x @ w))]
        e = retriever.evidence(text, best, scored, hits, q_terms)
        out.append(np.array([float(getattr(e, f)) for f in EVIDENCE]))
    return np.array(out)


def _prime(ml: CachedQueries, texts: list[str], path: Path) -> None:
    """Embed the questions once; later runs read them from ``path``."""
    if path.is_file():
        saved = np.load(path, allow_pickle=False)
        ml._cache.update(zip(saved["texts"].tolist(), saved["vectors"]))
    missing = [t for t in texts if t not in ml._cache]
    if missing:
        ml.prime(missing)
        known = sorted(ml._cache)
        np.savez(path, texts=np.array(known), vectors=np.array([ml._cache[t] for t in known], dtype=np.float32))


def _path(crosslingual: Crosslingual, questions):
    """The retriever most of ``questions`` are routed to."""
    from collections import Counter

    routes = Counter(id(crosslingual.retriever_for(q.question)) for q in questions[:50])
    chosen = routes.most_common(1)[0][0]
    return crosslingual.same if id(crosslingual.same) == chosen else crosslingual.cross


def _right(row, w) -> int:
    """1 when the sentence chosen with weights ``w`` holds a gold answer."""
    return int(row is not None and row[1] is not None and bool(row[1][int(np.argmax(row[0] @ w))]))


def _positives(rows, w, labels: str) -> list[int]:
    """Abstention labels of answerable questions: all 1 ("answerable"), or 1 where the chosen sentence holds the answer ("correct")."""
    return [_right(r, w) for r in rows] if labels == "correct" else [1] * len(rows)


def _confidences(retriever, rows, w, coef, bias) -> np.ndarray:
    """The fitted logistic model's confidence for each question of ``rows``."""
    return 1 / (1 + np.exp(-(_evidence(retriever, rows, w) @ coef + bias)))


def _outcome(conf: np.ndarray, threshold: float, rows, w, answerable: bool) -> str:
    """"declined / answers holding the answer" at ``threshold`` (the second only for answerable sets)."""
    answered = conf >= threshold
    right = np.array([_right(r, w) for r in rows], dtype=bool)
    held = right[answered].mean() if answered.any() and answerable else float("nan")
    return f"{1 - answered.mean():.3f} / {held:.3f}"


def _as_evidence(values):
    """An object with the named evidence fields ``AbstentionModel.confidence`` reads."""
    from types import SimpleNamespace

    return SimpleNamespace(**dict(zip(EVIDENCE, values)))


def _s1(rows, w) -> float:
    good = sum(bool(r[1][int(np.argmax(r[0] @ w))]) for r in rows if r is not None and r[1] is not None)
    return good / max(1, sum(1 for r in rows if r is None or r[1] is not None))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate_multilingual")
    parser.add_argument("--work", type=Path, help="keep the indexes here between runs")
    parser.add_argument(
        "--labels", choices=("answerable", "correct"), default="answerable",
        help="abstention positives: every answerable fit question (shipped), or only those whose chosen "
        "sentence holds the answer (answerable ones answered with a wrong sentence become negatives)",
    )
    parser.add_argument(
        "--per-path", action="store_true",
        help="fit one abstention model for the same-language path (Russian over Russian) and one for the "
        "cross-language path (German over English; with a fused encoder, one for e5 alone and one fused), "
        "each with its own threshold",
    )
    args = parser.parse_args()
    config = load_config(ROOT.parent / "config.toml")
    english = CachedEmbedder(load_embedder(config.index.model))
    ml = CachedQueries(load_multilingual(config.index.multilingual_model, threads=os.cpu_count()))
    work = args.work or Path(tempfile.mkdtemp(prefix="calibrate-ml-"))
    corpora = {
        "en": _docs(work, "en", ROOT / "xquad_en" / "docs", None),
        "en5": ROOT / "squad2_dev5" / "docs",
        "ru": _docs(work, "ru", ROOT / "xquad_ru" / "docs", None),
        "ru5": _docs(work, "ru5", ROOT / "xquad_ru" / "docs", SHARED),
        "zh": _docs(work, "zh", ROOT / "xquad_zh" / "docs", None),
        "zh5": _docs(work, "zh5", ROOT / "xquad_zh" / "docs", SHARED),
    }
    paths = {}
    for name, docs in corpora.items():
        print(f"building {name} ...", flush=True)
        build_index(config, english, multilingual=ml, seeds_dir=docs, index_dir=work / "index" / name, progress=lambda d, t: None)
        index = load_index(work / "index" / name, english.name)
        paths[name] = Crosslingual(index, ml, replace(config.retrieval, mode="hybrid"))

    def questions(path: Path):
        return read_questions(path)

    def outside(rows):  # questions about the articles that are not the five
        docs = {json.loads(line)["id"]: json.loads(line).get("doc") for line in (ROOT / "xquad_en" / "questions.jsonl").read_text().splitlines()}
        return [q for q in rows if docs.get(q.id) not in SHARED]

    sets = {
        "de>en": (questions(ROOT / "xquad_xling" / "de.jsonl"), "en"),
        "ru>ru": (questions(ROOT / "xquad_ru" / "questions.jsonl"), "ru"),
    }
    checks = {f"{lang}>en": (questions(ROOT / "xquad_xling" / f"{lang}.jsonl"), "en") for lang in ("es", "ru", "zh", "el", "vi")}
    checks["zh>zh"] = (questions(ROOT / "xquad_zh" / "questions.jsonl"), "zh")
    checks["en>ru"] = (questions(ROOT / "xquad_ru" / "questions_en.jsonl"), "ru")
    checks["en>zh"] = (questions(ROOT / "xquad_zh" / "questions_en.jsonl"), "zh")
    negatives = {"de>en5": (outside(sets["de>en"][0]), "en5"), "ru>ru5": (outside(sets["ru>ru"][0]), "ru5")}
    check_negatives = {
        f"ooc {lang}>en5": (questions(ROOT / "squad2_dev5" / f"out_of_corpus.{lang}.jsonl"), "en5") for lang in ("es", "ru", "zh", "el", "vi")
    }
    check_negatives["ooc zh>zh5"] = (outside(checks["zh>zh"][0]), "zh5")
    # With a fused encoder the German fit sets are asked twice: fused (the "fused" model's fit)
    # and with e5 alone (the "cross" model's, for the languages USE does not cover).
    e5_alone = {f"{n} e5": sets_ for n, sets_ in {**sets, **negatives}.items() if n.startswith("de>")} if ml.fused_languages else {}
    everything = {**sets, **checks, **negatives, **check_negatives, **e5_alone}
    _prime(ml, sorted({" ".join(q.question.split()) for qs, _ in everything.values() for q in qs}), work / "questions.npz")
    print("collecting features ...", flush=True)
    # Each set's questions share a language, hence a path (same-language or cross-language).
    retrievers = {name: _path(paths[corpus], qs) for name, (qs, corpus) in everything.items()}
    for name in e5_alone:
        retrievers[name] = copy.copy(retrievers[name])
        retrievers[name].embedder = QueryEncoder(ml)  # never fused
    names = {name: _path_name(paths[corpus], retrievers[name], qs) for name, (qs, corpus) in everything.items()}
    rows = {name: collect(retrievers[name], qs) for name, (qs, _) in everything.items()}

    fit = rows["de>en"] + rows["ru>ru"]
    grid = {
        "cosine": [1.0, 2.0, 4.0, 8.0],
        "coverage": [0.0, 0.25, 0.5, 1.0, 1.5],
        "passage": [0.0, 0.1, 0.25, 0.5],
        "cue": [0.0, 0.05, 0.1],
        "length": [0.0],
        "antecedent": [0.0, 0.4, 0.8],
    }
    results = sorted(((_s1(fit, np.array(c)), c) for c in itertools.product(*grid.values())), reverse=True)
    for score, combo in results[:8]:
        print(f"fit S@1 {score:.3f}  weights {combo}")
    shipped = np.array([float(getattr(WEIGHTS["hybrid"], f)) for f in FEATURES])
    if _s1(fit, shipped) >= results[0][0] - TOLERANCE:
        w = shipped
        print(f"keeping the shipped weights {shipped.tolist()} (fit S@1 {_s1(fit, shipped):.3f})")
    else:
        w = np.array(results[0][1])
        print(f"new weights {w.tolist()}: update WEIGHTS['hybrid'] in retrieval/crosslingual.py")
    for name in checks:
        print(f"check S@1 {name}: {_s1(rows[name], w):.3f}")

    x = np.vstack([_evidence(retrievers[n], rows[n], w) for n in [*sets, *negatives]])
    y = np.array([y for n in sets for y in _positives(rows[n], w, args.labels)] + [0] * (len(rows["de>en5"]) + len(rows["ru>ru5"])))
    coef, bias = fit_logistic(x, y)
    print("abstention weights", np.round(coef, 2).tolist(), "bias", round(bias, 2), "(retrieval/crosslingual.py ABSTAIN_WEIGHTS, ABSTAIN_BIAS)")
    conf = {n: _confidences(retrievers[n], rows[n], w, coef, bias) for n in everything}
    chosen = None
    for t in np.round(np.arange(0.1, 0.96, 0.01), 2):
        if round(t * 100) % 5 == 0:
            parts = [f"{n} {'declined' if n in negatives or n in check_negatives else 'wrongly declined'} {np.mean(conf[n] < t):.3f}" for n in everything]
            print(f"threshold {t:.2f}: " + "; ".join(parts))
        if chosen is None and all(np.mean(conf[n] < t) >= NEGATIVES_DECLINED for n in negatives):
            chosen = t
    print(f"threshold: {chosen:.2f}, the lowest declining {NEGATIVES_DECLINED:.1%} of each fit negative set "
          "([retrieval] multilingual_min_confidence)")
    if args.per_path:
        per_path(retrievers, rows, w, names, everything, {**negatives, **check_negatives}, args.labels)
    shipped_conf = {
        n: np.array([ABSTAIN[names[n]].confidence(_as_evidence(e)) for e in _evidence(retrievers[n], rows[n], w)])
        for n in everything
    }
    shipped_t = DECISION
    print("at the threshold, against the shipped models (retrieval/crosslingual.py ABSTAIN): declined / answers holding the answer")
    for n in everything:
        answerable = n not in negatives and n not in check_negatives
        this, shipped = (_outcome(c, t, rows[n], w, answerable) for c, t in ((conf[n], chosen), (shipped_conf[n], shipped_t)))
        print(f"  {n}: this fit {this}; shipped {shipped}")


def _path_name(crosslingual: Crosslingual, retriever, questions) -> str:
    """"same", "cross" or "fused" (``ABSTAIN``'s keys): the cross-language path ranks by vectors
    alone, fused with the second encoder's when its query encoder fuses these questions."""
    if retriever.mode == "hybrid":
        return "same"
    fused = retriever.embedder is crosslingual.cross.embedder and crosslingual.fused(questions[0].question)
    return "fused" if fused else "cross"


def per_path(retrievers, rows, w, names, everything, all_negatives, labels) -> None:
    """One abstention model per path, fitted on that path's fit language only; printed per set."""
    paths = {"same": ("ru>ru", "ru>ru5"), "cross": ("de>en", "de>en5")}
    if "de>en e5" in rows:  # a fused encoder: "cross" for e5 alone, "fused" for both
        paths = {"same": ("ru>ru", "ru>ru5"), "cross": ("de>en e5", "de>en5 e5"), "fused": ("de>en", "de>en5")}
    models = {}
    for path, (positive, negative) in paths.items():
        x = np.vstack([_evidence(retrievers[positive], rows[positive], w), _evidence(retrievers[negative], rows[negative], w)])
        y = np.array(_positives(rows[positive], w, labels) + [0] * len(rows[negative]))
        coef, bias = fit_logistic(x, y)
        conf = _confidences(retrievers[negative], rows[negative], w, coef, bias)
        t = next(t for t in np.arange(0.05, 0.96, 0.01) if np.mean(conf < t) >= NEGATIVES_DECLINED)
        models[path] = (coef, bias, t)
        print(f"{path} path: AbstentionModel({tuple(np.round(coef, 2).tolist())}, {round(bias, 2)}, {t:.2f})  (retrieval/crosslingual.py ABSTAIN)")
    print("per-path models: declined / answers holding the answer")
    for n in everything:
        path = names[n]
        coef, bias, t = models[path]
        conf = _confidences(retrievers[n], rows[n], w, coef, bias)
        print(f"  {n} ({path}): {_outcome(conf, t, rows[n], w, n not in all_negatives)}")


if __name__ == "__main__":
    main()
