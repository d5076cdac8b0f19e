"""Account events on the wire: the broker's messages."""

from __future__ import annotations

import json

from bff.cache.codec import decoder, dumps
from bff.cache.codec import encode as encode_record
from bff.domain.models import AccountEvent

_decode = decoder(AccountEvent)


def encode(event: AccountEvent) -> bytes:
    return dumps(encode_record(event))


def decode(message: bytes) -> AccountEvent:
    return _decode(json.loads(message))
