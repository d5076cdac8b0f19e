"""The learned risk model: gradient-boosted trees over the screening features, trained on the
simulator's data (and analysts' labels), stored with skops, and explained per transfer. Served
from its trees compiled at load (`bff.fraud.forest`), which give scikit-learn's scores faster.

skops stores the estimator as data and, on loading, refuses any type not on the trusted list
below, so a model file cannot run code the way a pickle can.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier

from bff.domain.fraud_signals import FEATURE_NAMES, WORDS, features
from bff.fraud.forest import Forest
from bff.fraud.simulator import Sample

# Beyond what skops trusts by default, a fitted GradientBoostingClassifier holds trees.
TRUSTED = ["sklearn.tree._tree.Tree"]
# How many contributing features a decision explains itself with.
TOP = 3


class RiskModel:
    def __init__(self, estimator: GradientBoostingClassifier, data: bytes) -> None:
        # The fitted model as stored; screening scores with its trees compiled (`Forest`).
        self.estimator = estimator
        self._forest = Forest(estimator)
        # The model file's bytes.
        self.data = data
        # What "ordinary" looks like, per feature: the reference an explanation compares with.
        self.baseline = np.asarray(estimator.baseline_, dtype=np.float64)
        # The version decisions record: a digest of what the model computes (its trees, the
        # baseline its explanations compare with, its parameters), not of the file, whose bytes
        # differ on every save (skops names the arrays in it by object id, and its zip entries
        # carry the time of writing).
        digest = hashlib.sha256(self._forest.fingerprint())
        digest.update(self.baseline.tobytes())
        digest.update(repr(sorted(estimator.get_params().items())).encode())
        self.version = "gb-" + digest.hexdigest()[:12]

    def risks(self, rows: np.ndarray) -> np.ndarray:
        """The risk of each row of feature vectors (no explanations): for measuring."""
        return self._forest.risks(rows)

    def explain(self, vector: Sequence[float]) -> tuple[float, tuple[str, ...]]:
        """The risk of one transfer and the features that raised it most, in plain words."""
        return occlusion(self._forest.risks, self.baseline, vector)


def occlusion(
    risks: Callable[[np.ndarray], np.ndarray], baseline: np.ndarray, vector: Sequence[float]
) -> tuple[float, tuple[str, ...]]:
    """The risk `risks` gives one feature vector, and its top contributing features in words.

    Explained by occlusion: each feature in turn is set to its ordinary value (`baseline`), and
    the drop in risk that makes is its contribution; all in one batch through the trees."""
    row = np.asarray(vector, dtype=np.float64)
    batch = np.repeat(row[np.newaxis, :], len(row) + 1, axis=0)
    index = np.arange(len(row))
    batch[index + 1, index] = baseline
    scored = risks(batch)
    risk = float(scored[0])
    gains = risk - scored[1:]
    top = np.argsort(-gains)[:TOP]
    reasons = tuple(
        f"{WORDS[FEATURE_NAMES[i]]} (+{gains[i]:.2f})" for i in top if gains[i] >= 0.005
    )
    return risk, reasons


def train(
    samples: Sequence[Sample], extra: Sequence[tuple[Sequence[float], bool]] = ()
) -> RiskModel:
    """Fit the model on simulated samples plus labelled feature vectors (analysts' decisions)."""
    rows = [features(sample.signals) for sample in samples] + [list(v) for v, _ in extra]
    labels = [sample.fraud for sample in samples] + [label for _, label in extra]
    return fit(np.asarray(rows, dtype=np.float64), np.asarray(labels, dtype=np.int8))


def fit(rows: np.ndarray, labels: np.ndarray) -> RiskModel:
    estimator = GradientBoostingClassifier(
        n_estimators=120, max_depth=3, learning_rate=0.1, subsample=0.8, random_state=7
    )
    estimator.fit(rows, labels)
    # Stored on the estimator so that the model file carries its own reference.
    estimator.baseline_ = np.median(rows[labels == 0], axis=0)
    return RiskModel(estimator, sio.dumps(estimator))


def save(model: RiskModel, path: Path) -> None:
    """Write the model file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(model.data)
    temporary.replace(path)


def load(path: Path) -> RiskModel:
    """A model saved by `save`; a file with any untrusted type is refused."""
    data = path.read_bytes()
    estimator = sio.loads(data, trusted=TRUSTED)
    if not isinstance(estimator, GradientBoostingClassifier):
        raise TypeError(f"{path} holds a {type(estimator).__name__}, not the risk model")
    return RiskModel(estimator, data)
