"""Strawberry types: the GraphQL contract's objects, inputs, scalars, enums and payloads.

The schema itself is assembled in `schema.root`.
"""
