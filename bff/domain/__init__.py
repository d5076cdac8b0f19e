"""Framework-free business rules: money, users, accounts, ledger transfers and access control."""
