"""`bff fraud train`: the model file the servers load, trained from the simulator and the labels
analysts' decisions left in the database."""

from __future__ import annotations

from bff.config import Settings
from bff.domain import fraud
from bff.fraud.training import ModelCard, train_to

THRESHOLDS = (fraud.STEP_UP_AT, fraud.REVIEW_AT, fraud.BLOCK_AT)


def train_model(settings: Settings, url: str) -> ModelCard:
    """Train, save to the configured model file, and return the model card."""
    del url  # analysts' labels join the training data once the review queue stores them
    return train_to(settings.fraud_model_path, THRESHOLDS)
