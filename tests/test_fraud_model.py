"""The risk model: the seeded simulator, `bff fraud train`, model files loaded without pickle."""

from __future__ import annotations

from pathlib import Path

import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from bff.config import Settings
from bff.domain.fraud_signals import FEATURE_NAMES, features
from bff.fraud import model
from bff.fraud.simulator import Pattern, simulate
from tests.commands import run_bff


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
