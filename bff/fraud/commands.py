"""`bff fraud train`: the model file the servers load, trained from the simulator and the labels
analysts' decisions left in the database."""

from __future__ import annotations

import asyncio

from bff.config import Settings
from bff.db.database import Database
from bff.db.fraud_labels import labelled
from bff.domain import fraud
from bff.fraud.training import ModelCard, train_to

THRESHOLDS = (fraud.STEP_UP_AT, fraud.REVIEW_AT, fraud.BLOCK_AT)


def train_model(settings: Settings, url: str) -> ModelCard:
    """Train on the simulator's data and every analyst's decision (a rejected transfer is
    fraud, an approved one is not), save to the configured model file, return the card."""

    async def labels() -> list[tuple[list[float], bool]]:
        database = Database(settings, url)
        try:
            return await labelled(database.engine)
        finally:
            await database.dispose()

    return train_to(settings.fraud_model_path, THRESHOLDS, asyncio.run(labels()))
