"""JSON encoding of domain records for the cache and the broker (never pickle: both are shared
with other processes)."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Generic, TypeVar, get_args, get_origin, get_type_hints
from uuid import UUID

T = TypeVar("T")


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(value)
    if isinstance(value, UUID | datetime):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def encode(record: object) -> dict[str, object]:
    """A record as JSON-ready values."""
    return {
        field.name: _plain(getattr(record, field.name))
        for field in dataclasses.fields(record)  # type: ignore[arg-type]
    }


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _parser(annotation: Any) -> Callable[[Any], Any]:
    if get_origin(annotation) in (types.UnionType,):
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        parse = _parser(inner)
        return lambda value: None if value is None else parse(value)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return decoder(annotation)
    if annotation is UUID:
        return UUID
    if annotation is datetime:
        return datetime.fromisoformat
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    return lambda value: value


def decoder(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """Rebuild a `cls` record from `encode`'s output."""
    parsers = {name: _parser(hint) for name, hint in get_type_hints(cls).items()}
    field_names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def decode(data: dict[str, Any]) -> T:
        return cls(**{name: parsers[name](data[name]) for name in field_names})

    return decode


@dataclass(frozen=True, slots=True)
class Codec(Generic[T]):
    """How one kind of cached value is written to the cache and read back."""

    dumps: Callable[[T], bytes]
    loads: Callable[[bytes], T]


def record_codec(cls: type[T], memo_size: int) -> Codec[T]:
    """The codec of a record type: JSON of its fields, parsed back with a memo."""
    return Codec(lambda record: dumps(encode(record)), _memoized_parser(cls, memo_size))


def _memoized_parser(cls: type[T], memo_size: int) -> Callable[[bytes], T]:
    """Parse cached payloads into `cls` records, remembering the last `memo_size` of them.

    Records are immutable and a payload names its record's version, so equal payloads can
    share one record: a warm cache then costs a hash of the payload instead of parsing JSON
    and building UUIDs and datetimes again on every request.
    """
    decode = decoder(cls)

    @lru_cache(maxsize=memo_size)
    def parse(payload: bytes) -> T:
        return decode(json.loads(payload))

    return parse
