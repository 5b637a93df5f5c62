"""``predict_proba`` of a fitted TF-IDF + logistic regression pipeline, without the per-call
validation scikit-learn wraps around it.

Why: the model server predicts one review per request, and for one row scikit-learn spends
most of ``Pipeline.predict_proba`` (about 1.6 ms here) validating its input: parameter
checks, ``check_array``, dataframe detection through narwhals, fitted-state checks, three
times per call. The arithmetic is about a tenth of that.

:class:`TfidfLinearScorer` replays the same steps on the fitted attributes, in the same
order and with the same numerical primitives, so its probabilities are bit-identical:

1. counts: ``build_analyzer()`` and ``vocabulary_``, as ``CountVectorizer._count_vocab``
   builds them (a CSR matrix with sorted indices);
2. TF-IDF: ``binary``, then the fitted ``TfidfTransformer``'s ``1 + log(tf)``
   (``sublinear_tf``), ``* idf_`` and scikit-learn's own row normalisation
   (``inplace_csr_row_normalize_l1/l2``);
3. scores: ``X @ coef_.T + intercept_`` (scipy's sparse-dense product, as ``safe_sparse_dot``);
4. probabilities: softmax for three or more classes, the logistic function for two, as
   ``LogisticRegression.predict_proba`` computes them.

A pipeline of any other shape (another estimator, a subclass, non-text input, a norm it does
not replay) gets no scorer, and the caller keeps using ``Pipeline.predict_proba``. As a last
guard, :meth:`TfidfLinearScorer.compile` checks its answer against the pipeline's on probe
texts drawn from the vocabulary and gives up on any difference (another scikit-learn version
could compute differently).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

_NORMS = ("l1", "l2", None)
# Up to this many texts per call are scored row by row with numpy (the model server's
# requests and micro-batches); more go through one scipy CSR matrix, as the pipeline does.
ROW_BY_ROW_MAX = 16


class TfidfLinearScorer:
    """The probabilities of a fitted ``Pipeline([TfidfVectorizer, LogisticRegression])``.

    Every call reads the pipeline's current state (analyzer, vocabulary, idf, coefficients),
    so a pipeline changed after :meth:`compile` (``set_params``, a refit) is scored as it is
    now; a change that leaves a shape this module does not replay answers None (the caller
    falls back to the pipeline).
    """

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self._coef: Any = None
        self._coef_t: np.ndarray | None = None

    @classmethod
    def compile(cls, pipeline: Any) -> TfidfLinearScorer | None:
        """A scorer for ``pipeline``, or None when it is not a shape this module replays
        exactly (then ``pipeline.predict_proba`` is the only path)."""
        scorer = cls(pipeline)
        probes = scorer.probe_texts()
        if probes is None:
            return None
        try:
            expected = pipeline.predict_proba(probes)
        except Exception:  # the pipeline cannot answer its own probes: leave it alone
            return None
        answer = scorer(probes)
        if answer is None or not np.array_equal(answer, expected):
            return None
        return scorer

    def _steps(self) -> tuple[Any, Any, Any] | None:
        """The vectorizer, its fitted TF-IDF transformer and the classifier, when the pipeline
        is (still) a replayable shape.

        ``TfidfVectorizer.transform`` weighs counts with the ``TfidfTransformer`` it built at
        fit time (``_tfidf``: its ``norm``, ``sublinear_tf`` and ``idf_`` are those of the fit,
        whatever ``set_params`` changed since), so that is the object read here.
        """
        try:
            from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import Pipeline
        except ImportError:
            return None
        pipeline = self.pipeline
        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            return None
        vectorizer, classifier = (step for _name, step in pipeline.steps)
        if type(vectorizer) is not TfidfVectorizer or type(classifier) is not LogisticRegression:
            return None
        transformer: Any = getattr(vectorizer, "_tfidf", None)
        if type(transformer) is not TfidfTransformer:
            return None
        if (vectorizer.input != "content" or transformer.norm not in _NORMS
                or not hasattr(vectorizer, "vocabulary_") or not hasattr(classifier, "coef_")):
            return None
        return vectorizer, transformer, classifier

    def probe_texts(self) -> list[str] | None:
        """Texts that exercise counting, repeated terms, unknown words and an empty row."""
        steps = self._steps()
        if steps is None:
            return None
        words = [term for term in sorted(steps[0].vocabulary_)[:40] if " " not in term]
        return ["", "zzz-unknown-word " * 3, " ".join(words), " ".join(words[:5] * 3),
                " ".join(reversed(words[5:25]))]

    def _coefficients(self, classifier: Any) -> np.ndarray:
        """``coef_.T``, contiguous: scipy would copy the transposed view on every product.
        Cached per ``coef_`` object (a refit assigns a new one)."""
        if self._coef is not classifier.coef_ or self._coef_t is None:
            coef = np.asarray(classifier.coef_)
            self._coef_t = np.ascontiguousarray(coef.T if coef.ndim == 2 else coef)
            self._coef = classifier.coef_
        return self._coef_t

    def __call__(self, texts: Sequence[str]) -> np.ndarray | None:
        """Rows of class probabilities, columns in the classifier's ``classes_`` order; None
        when the pipeline is no longer a shape this module replays."""
        steps = self._steps()
        if steps is None:
            return None
        vectorizer, transformer, classifier = steps
        vocabulary, analyze = vectorizer.vocabulary_, vectorizer.build_analyzer()
        known = vocabulary.__contains__
        rows: list[tuple[np.ndarray, np.ndarray]] = []
        for doc in texts:
            # The counts of the in-vocabulary features, in column order: what
            # ``_count_vocab`` and ``sort_indices`` make of the document.
            counts = Counter(filter(known, analyze(doc)))
            columns = np.fromiter(map(vocabulary.__getitem__, counts), dtype=np.intp,
                                  count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.intc, count=len(counts))
            order = np.argsort(columns)
            rows.append((columns[order], values[order]))
        if len(rows) <= ROW_BY_ROW_MAX and np.dtype(vectorizer.dtype) == np.float64:
            scores = self._scores_by_row(rows, vectorizer, transformer, classifier)
        else:
            scores = self._scores_sparse(rows, vectorizer, transformer, classifier)
        if len(classifier.classes_) <= 2:  # one column: the second class's score
            from scipy.special import expit  # type: ignore[import-untyped]  # no stubs pinned

            positive = scores.reshape(-1)
            expit(positive, out=positive)
            return np.stack([1 - positive, positive], axis=1)
        scores -= scores.max(axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores

    def _scores_by_row(self, rows: list[tuple[np.ndarray, np.ndarray]], vectorizer: Any,
                       transformer: Any, classifier: Any) -> np.ndarray:
        """Decision scores of a few rows with numpy alone (building a scipy matrix costs more
        than the arithmetic of one review); every sum runs in the order scikit-learn's and
        scipy's loops run it: the row norm over the row's entries, each score over them."""
        coef_t = self._coefficients(classifier)
        idf = transformer.idf_ if hasattr(transformer, "idf_") else None
        scores = np.zeros((len(rows), coef_t.shape[1]), dtype=np.float64)
        for number, (columns, counts) in enumerate(rows):
            if not len(columns):
                continue
            data = counts.astype(np.float64)
            if vectorizer.binary:
                data.fill(1)
            if transformer.sublinear_tf:
                np.log(data, data)
                data += 1.0
            if idf is not None:
                data *= idf[columns]
            if transformer.norm is not None:
                total = 0.0
                if transformer.norm == "l2":
                    for value in data.tolist():
                        total += value * value
                    total = math.sqrt(total)
                else:
                    for value in data.tolist():
                        total += abs(value)
                if total != 0.0:
                    data /= total
            # scipy's csr_matvecs: score += value * coefficient, entry after entry
            products = coef_t[columns] * data[:, None]
            scores[number] = np.add.accumulate(products, axis=0)[-1]
        return scores + classifier.intercept_

    def _scores_sparse(self, rows: list[tuple[np.ndarray, np.ndarray]], vectorizer: Any,
                       transformer: Any, classifier: Any) -> np.ndarray:
        """Decision scores of many rows as one CSR matrix, as the pipeline computes them."""
        import scipy.sparse as sp  # type: ignore[import-untyped]  # no stubs pinned
        from sklearn.utils.sparsefuncs_fast import (
            inplace_csr_row_normalize_l1,
            inplace_csr_row_normalize_l2,
        )

        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(columns) for columns, _counts in rows], out=indptr[1:])
        index_type = np.int32 if indptr[-1] <= np.iinfo(np.int32).max else np.int64
        X = sp.csr_array(
            (np.concatenate([counts for _columns, counts in rows] or [np.zeros(0, np.intc)]),
             np.concatenate([columns for columns, _counts in rows] or [np.zeros(0, np.intp)])
             .astype(index_type),
             indptr.astype(index_type)),
            shape=(len(rows), len(vectorizer.vocabulary_)), dtype=vectorizer.dtype)
        if vectorizer.binary:
            X.data.fill(1)
        if transformer.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if hasattr(transformer, "idf_"):
            X.data *= transformer.idf_[X.indices]
        if transformer.norm == "l1":
            inplace_csr_row_normalize_l1(X)
        elif transformer.norm == "l2":
            inplace_csr_row_normalize_l2(X)
        return np.asarray(X @ self._coefficients(classifier)) + classifier.intercept_
