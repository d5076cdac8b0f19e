"""Cache keys: the one place that names what is cached."""

from __future__ import annotations

from uuid import UUID

# Writers leave (key, new version) fences here; the unit of work applies them after commit.
Fences = list[tuple[str, int]]


def account(account_id: UUID) -> str:
    return f"account:{account_id}"


def account_list(owner_id: UUID) -> str:
    return f"accounts-of:{owner_id}"


def transaction_page(account_id: UUID, sequence: int, first: int, before: int | None) -> str:
    # Keyed by the account's sequence: a page of history never changes once written.
    return f"transactions:{account_id}:{sequence}:{first}:{before}"


def transfer(transfer_id: UUID) -> str:
    return f"transfer:{transfer_id}"


def entry(entry_id: UUID) -> str:
    return f"entry:{entry_id}"
