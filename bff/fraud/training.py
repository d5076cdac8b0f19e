"""`bff fraud train`: simulate, split, fit, measure, save. The model card is what it measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bff.domain.fraud_signals import features
from bff.fraud import model
from bff.fraud.simulator import Pattern, Sample, simulate

SAMPLES = 20_000
SEED = 20261202
# A quarter of the simulated transfers is held out: the card is measured on those only.
HELD_OUT = 0.25


@dataclass
class ModelCard:
    """What the held-out split says about a model."""

    version: str
    trained_on: int
    held_out: int
    roc_auc: float
    # threshold -> (precision, recall, false-positive rate on normal customers)
    at_thresholds: dict[float, tuple[float, float, float]] = field(default_factory=dict)
    # pattern -> share flagged at the lowest threshold
    caught: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"model {self.version}: trained on {self.trained_on}, "
            f"measured on {self.held_out} held-out transfers",
            f"ROC AUC {self.roc_auc:.3f}",
            "threshold  precision  recall  FPR(normal)",
        ]
        for threshold, (precision, recall, fpr) in sorted(self.at_thresholds.items()):
            out.append(f"{threshold:9.2f}  {precision:9.3f}  {recall:6.3f}  {fpr:11.4f}")
        out += [
            f"caught at {min(self.at_thresholds):.2f}: {p} {s:.2f}" for p, s in self.caught.items()
        ]
        return out


def train_and_measure(
    thresholds: Sequence[float],
    labelled: Sequence[tuple[Sequence[float], bool]] = (),
    samples: int = SAMPLES,
    seed: int = SEED,
) -> tuple[model.RiskModel, ModelCard]:
    """A model fit on the simulator's data (plus `labelled` vectors from analysts' decisions),
    and its card measured on a held-out split of the simulated data."""
    trained, held_out = split(simulate(samples, seed))
    fitted = model.train(trained, labelled)
    return fitted, measure(fitted, held_out, thresholds, trained_on=len(trained) + len(labelled))


def split(data: Sequence[Sample]) -> tuple[Sequence[Sample], Sequence[Sample]]:
    """Simulated data's training part, and the part held out to measure the model on."""
    cut = int(len(data) * (1 - HELD_OUT))
    return data[:cut], data[cut:]


def measure(
    fitted: model.RiskModel,
    held_out: Sequence[Sample],
    thresholds: Sequence[float],
    trained_on: int,
) -> ModelCard:
    risks = fitted.risks(np.asarray([features(sample.signals) for sample in held_out]))
    fraud = np.asarray([sample.fraud for sample in held_out])
    card = ModelCard(fitted.version, trained_on, len(held_out), float(roc_auc_score(fraud, risks)))
    for threshold in thresholds:
        flagged = risks >= threshold
        hits = int((flagged & fraud).sum())
        card.at_thresholds[threshold] = (
            hits / max(int(flagged.sum()), 1),
            hits / max(int(fraud.sum()), 1),
            int((flagged & ~fraud).sum()) / max(int((~fraud).sum()), 1),
        )
    lowest = min(thresholds)
    for pattern in Pattern:
        chosen = np.asarray([sample.pattern is pattern for sample in held_out])
        card.caught[pattern.value] = (
            float((risks[chosen] >= lowest).mean()) if chosen.any() else 0.0
        )
    return card


def train_to(
    path: Path, thresholds: Sequence[float], labelled: Sequence[tuple[Sequence[float], bool]] = ()
) -> ModelCard:
    """Train, save to `path`, and return the card."""
    fitted, card = train_and_measure(thresholds, labelled)
    model.save(fitted, path)
    return card
