"""Per-request DataLoaders: one batched SQL statement per kind of object per tick, with every
result passed through the domain's read policy for the request's actor."""

from dataloaders.loaders import Loaders

__all__ = ["Loaders"]
