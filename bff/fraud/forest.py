"""The risk model's trees compiled into flat arrays, scored without scikit-learn's per-call cost.

scikit-learn's `predict_proba` validates its input and walks each of the model's trees in turn,
which costs about a millisecond for the handful of rows one screening scores (its explanation
included). At load, every tree's nodes go into shared arrays (split feature, threshold,
children, leaf value) and a batch of rows walks all trees at once, one level per step. The
arithmetic is scikit-learn's own: features compared as float32 against float64 thresholds, the
initial log-odds plus each tree's scaled leaf value added in stage order, then the logistic
function (numpy's exp where scikit-learn calls scipy's expit); tests/test_fraud_model.py holds
the scores to scikit-learn's within 1e-9 (on the held-out split they are identical).
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier

# scikit-learn marks a leaf by this child index.
_LEAF = -1


class Forest:
    """A fitted binary `GradientBoostingClassifier`'s trees, as arrays."""

    def __init__(self, estimator: GradientBoostingClassifier) -> None:
        stages = estimator.estimators_
        if stages.shape[1] != 1:
            raise TypeError("only a binary classifier's trees compile (one tree per stage)")
        trees = [stage[0].tree_ for stage in stages]
        sizes = np.asarray([tree.node_count for tree in trees])
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        left = np.concatenate([t.children_left + o for t, o in zip(trees, offsets, strict=True)])
        right = np.concatenate([t.children_right + o for t, o in zip(trees, offsets, strict=True)])
        leaf = np.concatenate([tree.children_left == _LEAF for tree in trees])
        own = np.arange(len(leaf))
        # A leaf is its own child and sends every row left, so that every row takes the same
        # number of steps whatever the depth of its leaf.
        self._left = np.where(leaf, own, left)
        self._right = np.where(leaf, own, right)
        self._feature = np.where(leaf, 0, np.concatenate([tree.feature for tree in trees]))
        self._threshold = np.where(leaf, np.inf, np.concatenate([t.threshold for t in trees]))
        # Each leaf's contribution as scikit-learn adds it: learning rate times the leaf value.
        self._value = estimator.learning_rate * np.concatenate([t.value[:, 0, 0] for t in trees])
        self._roots = offsets
        self._depth = max(tree.max_depth for tree in trees)
        # The initial raw prediction: the log-odds of the training prior, clipped as
        # scikit-learn clips it.
        prior = estimator.init_.predict_proba(np.zeros((1, estimator.n_features_in_)))[0, 1]
        eps = np.finfo(np.float64).eps
        clipped = np.clip(prior, eps, 1 - eps)
        self._initial = float(np.log(clipped / (1 - clipped)))

    def fingerprint(self) -> bytes:
        """A digest of the compiled trees: equal for trees that score every row alike, whatever
        process fitted or loaded them."""
        digest = hashlib.sha256()
        arrays = (self._left, self._right, self._feature, self._threshold, self._value, self._roots)
        for array in arrays:
            digest.update(str(array.dtype).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr((self._depth, self._initial)).encode())
        return digest.digest()

    def risks(self, rows: np.ndarray) -> np.ndarray:
        """The probability of fraud for each row of feature vectors."""
        values = np.asarray(rows, dtype=np.float32)
        count = values.shape[0]
        at = np.arange(count)[:, np.newaxis]
        nodes = np.broadcast_to(self._roots, (count, len(self._roots)))
        for _ in range(self._depth):
            goes_left = values[at, self._feature[nodes]] <= self._threshold[nodes]
            nodes = np.where(goes_left, self._left[nodes], self._right[nodes])
        # Added one stage after another, in scikit-learn's order, so the sums round alike.
        stages = np.concatenate((np.full((count, 1), self._initial), self._value[nodes]), axis=1)
        raw = np.cumsum(stages, axis=1)[:, -1]
        return 1.0 / (1.0 + np.exp(-raw))  # type: ignore[no-any-return]
