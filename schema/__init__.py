"""Strawberry types: the GraphQL contract's objects, inputs, scalars, enums and payloads.

The schema itself is assembled by the app factory (`bff.app.build_schema`); this package
imports nothing from the application but the plain-Python domain.
"""
