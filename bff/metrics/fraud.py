"""Fraud screening's decisions, counted as the screening makes them."""

from __future__ import annotations

from bff.domain.fraud import Decision
from bff.metrics.families import FRAUD_DECISIONS


def count_fraud_decision(decision: Decision) -> None:
    FRAUD_DECISIONS.labels(decision.value).inc()
