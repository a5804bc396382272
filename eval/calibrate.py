"""Fit the abstention model on collections of realistic size and report on held-out ones.

Usage (from the repository root; about 10 minutes on 2 cores with the real model)::

    python -m eval.calibrate                 # fit, then the split-half table, the sets, the ablation
    python -m eval.calibrate --shipped       # no fitting: the same tables for the shipped model

The collections are in ``eval/collections.py``: XQuAD split in halves (one half indexed,
both halves asked), single articles and groups of three, the SQuAD 2.0 articles with
SQuAD questions about other articles and about paragraphs the index leaves out, and
reader-phrased questions.  The model is a logistic regression over ``Evidence``
(``retrieval/abstain.py``), each fit collection weighing the same, its answerable and
unanswerable questions balanced; the threshold is the one at which the fit collections
wrongly decline ``TARGET_DECLINED`` of their answerable questions on average.  Held-out
splits, sets and probes are the check.  The ablation refits without each signal (and
with the first five alone) and reports the same held-out figures.

The sentence score's weights are not refitted here: their grid search on the SQuAD 2.0
questions (with the reader-phrased fit questions as a second objective) found nothing
beyond noise; ``--sentence-grid`` runs it again.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.config import load_config
from core.embedder import load_embedder
from eval.collections import Collection, dev_collections
from index.build import build_index
from index.lexical import question_terms
from retrieval.abstain import BIAS, WEIGHTS, Evidence
from retrieval.answer_type import answer_type
from retrieval.evaluate import contains_answer
from retrieval.index_store import open_index
from retrieval.retriever import EXTRACT_POOL, SENTENCE_POOL, Retriever, SentenceWeights, choose_sentence

ROOT = Path(__file__).resolve().parent
TARGET_DECLINED = 0.03  # answerable questions the fit collections may wrongly decline, on average
FEATURES = ("cosine", "coverage", "passage", "cue", "length", "antecedent")
SIGNALS = Evidence.fields()
# The model's signals: all but entity_unknown, which adds nothing once entity_missing is in
# (see the ablation) and then only takes a weight that is hard to explain.
MODEL = [i for i, name in enumerate(SIGNALS) if name != "entity_unknown"]
# The model before this calibration (five signals, fitted on SQuAD alone), for comparison.
PREVIOUS = (np.array([14.63, 7.77, 5.79, 2.48, -2.34] + [0.0] * (len(SIGNALS) - 5)), -12.23, 0.30)


@dataclass
class Row:
    """One question asked of one collection."""

    answerable: bool
    evidence: np.ndarray  # Evidence.vector() of the chosen sentence
    right: bool  # the chosen sentence holds a gold answer
    candidates: np.ndarray | None = None  # FEATURES of every candidate (answerable questions only)
    labels: np.ndarray | None = None  # which candidates hold a gold answer


class MemoEmbedder:
    """Wraps an embedder and remembers every text it embedded (builds and questions share them)."""

    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts, *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._cache})
        for start in range(0, len(missing), 1024):
            chunk = missing[start : start + 1024]
            for text, vector in zip(chunk, self.inner.encode(chunk, batch_size=64)):
                self._cache[text] = vector
        return np.array([self._cache[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dimension)


def ask(retriever: Retriever, collection: Collection) -> list[Row]:
    """Run the pipeline's own steps for every question of ``collection``."""
    rows = []
    for question, answerable in collection.questions:
        text = " ".join(question.question.split())
        vector = retriever.embedder.encode([text])[0]
        q_terms = question_terms(text)
        hits = retriever._rank(vector, q_terms, max(retriever.settings.candidates, EXTRACT_POOL))
        scored = retriever.score_sentences(text, vector, q_terms, hits[:EXTRACT_POOL]) if hits else []
        candidates = [s for s in scored if s.rank < SENTENCE_POOL]
        if not candidates:
            rows.append(Row(answerable, np.zeros(len(Evidence.fields())), False))
            continue
        best = choose_sentence(candidates, answer_type(text))
        evidence = np.array(retriever.evidence(text, best, candidates, hits, q_terms).vector())
        right = bool(question.answers) and contains_answer(best.sentence.text, question.answers)
        row = Row(answerable, evidence, right)
        if answerable and question.answers:
            row.candidates = np.array([[getattr(s, f) for f in FEATURES] for s in candidates])
            row.labels = np.array([contains_answer(s.sentence.text, question.answers) for s in candidates])
        rows.append(row)
    return rows


def collect(config, embedder, collections: list[Collection]) -> dict[str, list[Row]]:
    out = {}
    settings = replace(config.retrieval, mode="hybrid")
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        for c in collections:
            seeds, index_dir = Path(tmp) / c.name / "seeds", Path(tmp) / c.name / "index"
            seeds.mkdir(parents=True)
            for name in c.documents:
                (seeds / name).write_text((c.docs_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
            build_index(config, embedder, multilingual=None, seeds_dir=seeds, index_dir=index_dir, progress=lambda d, t: None)
            retriever = Retriever(open_index(config, embedder.name, index_dir), embedder, settings)
            try:
                out[c.name] = ask(retriever, c)
            finally:
                retriever.close()
            print(f"  {c.name}: {len(c.documents)} documents, {len(c.questions)} questions", flush=True)
    return out


# ---------------------------------------------------------------- the model


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1e-3, steps: int = 4000) -> tuple[np.ndarray, float]:
    """Weighted logistic regression by gradient descent on standardised features; raw-scale weights."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    weight = weight / weight.sum()
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        grad = (p - y) * weight
        w -= 1.0 * (z.T @ grad + l2 * w)
        b -= 1.0 * grad.sum()
    raw = w / std
    return raw, float(b - (mean * raw).sum())


def fit(data: dict[str, list[Row]], fit_names: list[str], columns: list[int]) -> tuple[np.ndarray, float]:
    """Weights over ``columns`` of Evidence; each fit collection weighs the same, its classes balanced."""
    xs, ys, ws = [], [], []
    for name in fit_names:
        rows = data[name]
        y = np.array([r.answerable for r in rows], dtype=float)
        w = np.ones(len(rows))
        for label in (0.0, 1.0):
            if (y == label).any():
                w[y == label] = 0.5 / (y == label).sum()
        xs.append(np.array([r.evidence[columns] for r in rows]))
        ys.append(y)
        ws.append(w)
    coef, bias = fit_logistic(np.vstack(xs), np.concatenate(ys), np.concatenate(ws))
    full = np.zeros(len(Evidence.fields()))
    full[columns] = coef
    return full, bias


def confidences(rows: list[Row], coef: np.ndarray, bias: float) -> np.ndarray:
    x = np.array([r.evidence for r in rows])
    return 1 / (1 + np.exp(-np.clip(x @ coef + bias, -50, 50)))


def rates(rows: list[Row], coef, bias, threshold) -> tuple[float | None, float | None]:
    """(answerable declined, unanswerable declined) at ``threshold``; None where there are none."""
    c = confidences(rows, coef, bias)
    y = np.array([r.answerable for r in rows])
    declined = c < threshold
    return (float(declined[y].mean()) if y.any() else None, float(declined[~y].mean()) if (~y).any() else None)


def threshold_for(data, fit_names, coef, bias, target: float = TARGET_DECLINED) -> float:
    """The highest threshold (step 0.01) at which the fit collections decline at most ``target`` of answerable questions."""
    with_answers = [n for n in fit_names if any(r.answerable for r in data[n])]
    best = 0.01
    for t in np.arange(0.01, 0.96, 0.01):
        if np.mean([rates(data[n], coef, bias, t)[0] for n in with_answers]) <= target:
            best = float(t)
    return round(best, 2)


# ---------------------------------------------------------------- reports


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def mean_rates(data, names, coef, bias, t):
    pairs = [rates(data[n], coef, bias, t) for n in names]
    ans = [a for a, _ in pairs if a is not None]
    out = [o for _, o in pairs if o is not None]
    return (float(np.mean(ans)) if ans else None, float(np.mean(out)) if out else None)


def split_table(data, collections, coef, bias, t) -> str:
    lines = ["| split | documents | fitted on | answerable declined | out-of-corpus declined |", "|---|---|---|---|---|"]
    splits = [c for c in collections if c.kind == "split"]
    for c in splits:
        a, o = rates(data[c.name], coef, bias, t)
        lines.append(f"| {c.name} | {len(c.documents)} | {'yes' if c.fit else 'no'} | {pct(a)} | {pct(o)} |")
    held = [c.name for c in splits if not c.fit]
    a, o = mean_rates(data, held, coef, bias, t)
    lines.append(f"| **held-out mean** | | no | **{pct(a)}** | **{pct(o)}** |")
    return "\n".join(lines)


def summary(data, collections, coef, bias, t) -> dict[str, tuple]:
    """The held-out figures the targets are about (answerable declined, unanswerable declined, S@1)."""
    by = {c.name: c for c in collections}
    held = [c.name for c in collections if c.kind == "split" and not c.fit]
    small = [c.name for c in collections if c.kind == "small" and not c.fit]
    s1 = lambda n: float(np.mean([r.right for r in data[n] if r.answerable]))
    return {
        "split halves (held out)": mean_rates(data, held, coef, bias, t) + (None,),
        "small collections (held out)": mean_rates(data, small, coef, bias, t) + (None,),
        "squad2_dev5 out-of-corpus": (rates(data["squad5"], coef, bias, t)[0], rates(data["squad5-out-of-corpus"], coef, bias, t)[1], s1("squad5")),
        "SQuAD questions, 43 other articles": (None, rates(data["other43"], coef, bias, t)[1], None),
        "near-topic (held out)": (None, rates(data["near-check"], coef, bias, t)[1], None),
        "xquad_en, 48 articles": (rates(data["xquad48"], coef, bias, t)[0], None, s1("xquad48")),
        "probes: seed article": rates(data["probes-seed"], coef, bias, t) + (s1("probes-seed"),),
        "probes: xquad_en": (rates(data["probes-xquad"], coef, bias, t)[0], None, s1("probes-xquad")),
        "paraphrase fit questions": (rates(data["paraphrase-fit"], coef, bias, t)[0], None, s1("paraphrase-fit")),
        "reader-phrased questions, 14 xquad_en articles (not fitted)": rates(data["paraphrase-xquad"], coef, bias, t) + (s1("paraphrase-xquad"),),
    } if all(n in by for n in ("squad5", "xquad48")) else {}


def summary_table(rows: dict[str, tuple]) -> str:
    lines = ["| set | answerable declined | unanswerable declined | S@1 |", "|---|---|---|---|"]
    for name, (a, o, s) in rows.items():
        lines.append(f"| {name} | {pct(a)} | {pct(o)} | {'–' if s is None else f'{s:.3f}'} |")
    return "\n".join(lines)


def ablation(data, collections, fit_names) -> str:
    names = SIGNALS
    variants = [("the model (all but entity_unknown)", MODEL), ("all signals", list(range(len(names))))]
    variants += [("the first five only, refitted", list(range(5)))]
    variants += [(f"without {names[k]}", [i for i in MODEL if i != k]) for k in MODEL if k >= 5]
    variants += [(f"first five + {n}", list(range(5)) + [k]) for k, n in enumerate(names) if k >= 5]
    lines = [
        "| evidence | threshold | split halves: answerable / out-of-corpus declined | squad2_dev5 out-of-corpus | 43 other articles | near-topic | xquad_en answerable declined | probes declined (seed / xquad) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    previous = [("previous model (first five, fitted on SQuAD only; threshold 0.30)", PREVIOUS)]
    for label, model in previous + [(label, None) for label, _ in variants]:
        if model is None:
            columns = dict(variants)[label]
            coef, bias = fit(data, fit_names, columns)
            t = threshold_for(data, fit_names, coef, bias)
        else:
            coef, bias, t = model
        s = summary(data, collections, coef, bias, t)
        a, o, _ = s["split halves (held out)"]
        lines.append(
            f"| {label} | {t:.2f} | {pct(a)} / {pct(o)} | {pct(s['squad2_dev5 out-of-corpus'][1])} "
            f"| {pct(s['SQuAD questions, 43 other articles'][1])} | {pct(s['near-topic (held out)'][1])} "
            f"| {pct(s['xquad_en, 48 articles'][0])} | {pct(s['probes: seed article'][0])} / {pct(s['probes: xquad_en'][0])} |"
        )
    return "\n".join(lines)


def sentence_grid(data) -> None:
    """S@1 of sentence-weight combinations on the SQuAD 2.0 and reader-phrased fit questions."""
    def s1(name, w):
        rows = [r for r in data[name] if r.candidates is not None]
        return sum(bool(r.labels[int(np.argmax(r.candidates @ w))]) for r in rows) / max(1, sum(r.answerable for r in data[name]))

    grid = {"cosine": [1.0], "coverage": [0.75, 1.0, 1.25, 1.5], "passage": [0.0, 0.25, 0.5], "cue": [0.0, 0.05, 0.1, 0.2],
            "length": [0.0], "antecedent": [0.0, 0.4, 0.8, 1.2]}
    results = sorted(((0.5 * s1("squad5", np.array(c)) + 0.5 * s1("paraphrase-fit", np.array(c)), c) for c in itertools.product(*grid.values())), reverse=True)
    shipped = np.array([float(getattr(SentenceWeights(), f)) for f in FEATURES])
    print(f"shipped sentence weights: SQuAD S@1 {s1('squad5', shipped):.3f}, paraphrase fit S@1 {s1('paraphrase-fit', shipped):.3f}")
    for score, combo in results[:5]:
        print(f"  mean S@1 {score:.3f}: SQuAD {s1('squad5', np.array(combo)):.3f}, paraphrase {s1('paraphrase-fit', np.array(combo)):.3f}  {combo}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--shipped", action="store_true", help="report the shipped weights and threshold, fit nothing")
    parser.add_argument("--sentence-grid", action="store_true", help="also search the sentence-score weights")
    parser.add_argument("--no-ablation", action="store_true", help="skip the ablation table")
    parser.add_argument("--cache", type=Path, help="keep the collected evidence in this file and reuse it (quick re-runs)")
    args = parser.parse_args(argv)
    config = load_config(ROOT.parent / "config.toml")
    collections = dev_collections(ROOT)
    fit_names = [c.name for c in collections if c.fit]
    if args.cache and args.cache.is_file():
        data = pickle.loads(args.cache.read_bytes())
    else:
        print(f"collecting evidence on {len(collections)} collections ...", flush=True)
        data = collect(config, MemoEmbedder(load_embedder(config.index.model)), collections)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(data))
    if args.sentence_grid:
        sentence_grid(data)
    if args.shipped:
        coef, bias, t = np.array(WEIGHTS), BIAS, config.retrieval.min_confidence
        print(f"\nshipped model, threshold {t}")
    else:
        coef, bias = fit(data, fit_names, MODEL)
        t = threshold_for(data, fit_names, coef, bias)
        print("\nWEIGHTS =", tuple(round(float(w), 2) for w in coef), f"\nBIAS = {bias:.2f}", f"\nthreshold (min_confidence) = {t:.2f}")
    print("\nSplit-half XQuAD (one half indexed, both halves asked):\n")
    print(split_table(data, collections, coef, bias, t))
    print("\nAll sets:\n")
    print(summary_table(summary(data, collections, coef, bias, t)))
    print("\nConfidence of answered questions (fit collections): share whose sentence is right, share unanswerable")
    rows = [r for n in fit_names for r in data[n]]
    c = confidences(rows, coef, bias)
    for h in (t, 0.5, 0.6, 0.7, 0.8, 0.9):
        above = c >= h
        right = np.mean([r.right for r, a in zip(rows, above) if a and r.answerable]) if above.any() else 0
        wrong = np.mean([not r.answerable for r, a in zip(rows, above) if a]) if above.any() else 0
        print(f"  confidence >= {h:.2f}: {above.mean():.1%} of questions, sentence right {right:.1%}, not answerable {wrong:.1%}")
    if not args.no_ablation and not args.shipped:
        print("\nAblation (each variant refitted, threshold by the same rule):\n")
        print(ablation(data, collections, fit_names))


if __name__ == "__main__":
    main()
