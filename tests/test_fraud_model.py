"""The risk model: the seeded simulator, `bff fraud train`, model files loaded without pickle,
and the compiled trees screening scores with, which give scikit-learn's own scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from bff.config import Settings
from bff.domain.fraud_signals import FEATURE_NAMES, features
from bff.fraud import model, training
from bff.fraud.simulator import Pattern, simulate
from tests.commands import run_bff
from tests.screened import model_file

__all__ = ["model_file"]  # the fixture used here


def test_the_simulator_is_seeded_and_has_every_pattern() -> None:
    # when the same seed is simulated twice, and another once
    first, again, other = simulate(3000, 1), simulate(3000, 1), simulate(3000, 2)
    # then the same seed gives the same transfers, another seed others
    assert first == again
    assert first != other
    # and every fraud pattern is there, among a majority of normal transfers
    patterns = {sample.pattern for sample in first}
    assert patterns == set(Pattern)
    assert sum(not sample.fraud for sample in first) > 0.9 * len(first)


def test_bff_fraud_train_writes_a_model_and_prints_its_card(
    settings: Settings, tmp_path: Path
) -> None:
    # when an operator trains the model
    target = tmp_path / "model.skops"
    result = run_bff(
        ["fraud", "train"],
        tmp_path,
        DATABASE_URL=settings.database_url or "",
        BFF_FRAUD_MODEL_FILE=str(target),
    )
    # then the card is printed and the model file scores and explains a transfer
    assert result.returncode == 0, result.stderr
    assert "ROC AUC" in result.stdout
    loaded = model.load(target)
    assert loaded.version in result.stdout
    burst = next(s for s in simulate(5000, 3) if s.pattern is Pattern.CARD_TESTING)
    risk, reasons = loaded.explain(features(burst.signals))
    assert risk > 0.5
    assert reasons
    assert len(features(burst.signals)) == len(FEATURE_NAMES)


def test_a_model_file_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    # given a model file that holds a function to call
    hostile = tmp_path / "hostile.skops"
    sio.dump(FunctionTransformer(func=print), hostile)
    # when it is loaded, then it is refused before anything runs
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        model.load(hostile)


def test_the_compiled_trees_score_and_explain_as_scikit_learn_does(model_file: Path) -> None:
    # given the trained model as a server loads it, and the held-out split of the model card
    loaded = model.load(model_file)
    _, held_out = training.split(simulate(training.SAMPLES, training.SEED))
    rows = np.asarray([features(sample.signals) for sample in held_out])

    def by_scikit_learn(batch: np.ndarray) -> np.ndarray:
        return loaded.estimator.predict_proba(batch)[:, 1]  # type: ignore[no-any-return]

    # when every held-out transfer is scored by the compiled trees and by scikit-learn
    compiled = loaded.risks(rows)
    reference = by_scikit_learn(rows)
    # then the scores agree on each of the thousands of rows
    assert len(rows) == 5000
    assert np.abs(compiled - reference).max() <= 1e-9
    # and so do the explanations: the same top features, in the same order, with the same gains
    explained = [loaded.explain(row) for row in rows]
    expected = [model.occlusion(by_scikit_learn, loaded.baseline, row) for row in rows]
    assert [reasons for _, reasons in explained] == [reasons for _, reasons in expected]
    assert max(abs(a - b) for (a, _), (b, _) in zip(explained, expected, strict=True)) <= 1e-9
    # and the explanations are not all empty (the comparison compares something)
    assert sum(1 for _, reasons in explained if reasons) > 100


def test_the_model_version_is_what_the_training_data_makes_it() -> None:
    # given an analyst's label on a transfer of a small simulated training set
    seed, samples = 5, 1500
    burst = next(s for s in simulate(samples, seed) if s.pattern is Pattern.CARD_TESTING)
    label = (features(burst.signals), False)
    # when the model is trained twice with the same seed, and once more with the label
    first, _ = training.train_and_measure([0.5], samples=samples, seed=seed)
    again, _ = training.train_and_measure([0.5], samples=samples, seed=seed)
    labelled, _ = training.train_and_measure([0.5], [label], samples=samples, seed=seed)
    # then the same data makes the same version (though skops writes each file differently)
    assert first.version == again.version
    # and the label makes another version
    assert labelled.version != first.version
