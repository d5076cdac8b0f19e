"""Fintech GraphQL backend-for-frontend."""
