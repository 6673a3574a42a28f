"""The classical model: TF-IDF features, a linear SVM, and probability calibration.

The normaliser is the vectorizer's preprocessor, so the saved pipeline takes raw ticket text
wherever it is loaded (our services, ``mlflow models serve``, a notebook). Its input is a frame
with one ``text`` column, the shape MLflow's pyfunc hands to a model. Explanations come from
the linear model itself: a term's contribution to a class is its TF-IDF weight in the ticket
times the SVM coefficient of that class.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from callcenterai.config import TfidfParams
from callcenterai.models.base import Classifier, TermContribution
from callcenterai.text import normalise_text

# skops loads only types it trusts: our normaliser and scikit-learn's private calibration classes.
SKOPS_TRUSTED_TYPES = [
    "callcenterai.text.normalise_text",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "pandas.core.indexes.base.Index",
]


TEXT_COLUMN = "text"


def build_pipeline(params: TfidfParams, seed: int = 42) -> Pipeline:
    vectorizer = TfidfVectorizer(
        preprocessor=normalise_text,
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_df=params.max_df,
        sublinear_tf=params.sublinear_tf,
        max_features=params.max_features,
        dtype=np.float32,
    )
    svm = LinearSVC(C=params.C, class_weight=params.class_weight, random_state=seed)
    calibrated = CalibratedClassifierCV(
        svm,
        method=params.calibration_method,
        cv=params.calibration_folds,
        ensemble=params.calibration_ensemble,
    )
    features = ColumnTransformer([("tfidf", vectorizer, TEXT_COLUMN)])
    return Pipeline([("features", features), ("svm", calibrated)])


def as_frame(texts: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({TEXT_COLUMN: list(texts)})


class TfidfClassifier(Classifier):
    """A fitted TF-IDF + calibrated linear SVM pipeline with explanations."""

    kind = "tfidf"

    def __init__(self, pipeline: Pipeline, name: str = "tfidf", version: str = "local"):
        self.pipeline = pipeline
        self.name = name
        self.version = version

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        params: TfidfParams,
        seed: int = 42,
        sample_weight: Sequence[float] | None = None,
    ) -> TfidfClassifier:
        fit_options = {} if sample_weight is None else {"svm__sample_weight": sample_weight}
        pipeline = build_pipeline(params, seed).fit(as_frame(texts), list(labels), **fit_options)
        # Terms cut by min_df / max_df are kept for introspection only; they bloat the artifact.
        cls._vectorizer_of(pipeline).stop_words_ = None
        return cls(pipeline)

    @staticmethod
    def _vectorizer_of(pipeline: Pipeline) -> TfidfVectorizer:
        return pipeline.named_steps["features"].named_transformers_["tfidf"]

    @property
    def vectorizer(self) -> TfidfVectorizer:
        return self._vectorizer_of(self.pipeline)

    @cached_property
    def labels(self) -> list[str]:
        return [str(label) for label in self.pipeline.classes_]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, one row per text, columns in the order of :attr:`labels`.

        Same result as ``pipeline.predict_proba(as_frame(texts))``, without building a frame:
        on a single ticket that wrapping costs more than the model.
        """
        features = self.vectorizer.transform(list(texts))
        return self.pipeline.named_steps["svm"].predict_proba(features)

    @cached_property
    def _words(self) -> tuple[set[str], object]:
        vectorizer = self.vectorizer
        words = {term for term in vectorizer.vocabulary_ if " " not in term}
        return words, vectorizer.build_tokenizer()

    def unknown_word_share(self, texts: Sequence[str]) -> list[float]:
        """Share of each text's words (after the shared normaliser) that the vectorizer never
        saw in training; 1.0 for a text with no word at all."""
        words, tokenize = self._words
        shares = []
        for text in texts:
            tokens = tokenize(normalise_text(text))
            unknown = sum(1 for token in tokens if token not in words)
            shares.append(round(unknown / len(tokens), 4) if tokens else 1.0)
        return shares

    @cached_property
    def _coefficients(self) -> np.ndarray:
        """SVM coefficients, one row per class (averaged over calibration folds if ensembled)."""
        calibrated = self.pipeline.named_steps["svm"].calibrated_classifiers_
        coef = np.mean([c.estimator.coef_ for c in calibrated], axis=0)
        if coef.shape[0] == 1:  # binary: one row scores the positive class
            coef = np.vstack([-coef[0], coef[0]])
        return coef

    @cached_property
    def _feature_names(self) -> np.ndarray:
        return self.vectorizer.get_feature_names_out()

    def explain(
        self, text: str, label: str | None = None, top_k: int = 5
    ) -> list[TermContribution]:
        """The terms of ``text`` that pushed hardest towards ``label`` (the predicted one if None).

        Only terms with a positive contribution are returned, strongest first; a ticket made of
        words the model never saw has no explanation.
        """
        if label is None:
            label = self.predict([text])[0]
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; the model knows {self.labels}")
        features = self.vectorizer.transform([text]).tocsr()
        coef = self._coefficients[self.labels.index(label)]
        contributions = features.data * coef[features.indices]
        order = np.argsort(-contributions)[:top_k]
        return [
            TermContribution(
                str(self._feature_names[features.indices[i]]), round(float(contributions[i]), 4)
            )
            for i in order
            if contributions[i] > 0
        ]
