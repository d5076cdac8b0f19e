"""Money in integer minor units, with ISO 4217 exponents and strict decimal-string parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bff.domain.errors import DomainError, ErrorCode


class Currency(StrEnum):
    """The currencies the bank holds accounts in."""

    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    CHF = "CHF"
    CAD = "CAD"
    AUD = "AUD"
    SEK = "SEK"
    JPY = "JPY"
    KRW = "KRW"
    BHD = "BHD"
    KWD = "KWD"

    @property
    def exponent(self) -> int:
        """The ISO 4217 number of minor-unit digits."""
        return _EXPONENTS.get(self, 2)


_EXPONENTS = {Currency.JPY: 0, Currency.KRW: 0, Currency.BHD: 3, Currency.KWD: 3}


# Digits, an optional fraction; no sign, exponent, whitespace, thousands separators or NaN/Infinity.
_DECIMAL = re.compile(r"(?P<whole>0|[1-9][0-9]{0,17})(?:\.(?P<frac>[0-9]+))?")
MAX_MINOR_UNITS = 10**15  # well inside BIGINT, far above any plausible single movement


def exponent_of(currency: str) -> int:
    """The number of decimal places of a supported currency."""
    try:
        return Currency(currency).exponent
    except ValueError:
        raise DomainError(
            ErrorCode.UNSUPPORTED_CURRENCY, f"Currency {currency!r} is not supported."
        ) from None


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of a currency; may be negative for signed ledger amounts."""

    minor: int
    currency: str

    @classmethod
    def parse(cls, amount: object, currency: str) -> Money:
        """Parse a positive decimal string such as "12.34"; anything else is INVALID_AMOUNT."""
        exponent = exponent_of(currency)
        if not isinstance(amount, str):
            raise DomainError(
                ErrorCode.INVALID_AMOUNT, 'Amounts are decimal strings such as "12.34".'
            )
        match = _DECIMAL.fullmatch(amount)
        if match is None:
            raise DomainError(
                ErrorCode.INVALID_AMOUNT,
                f'{amount!r} is not a plain positive decimal such as "12.34".',
            )
        fraction = match["frac"] or ""
        if len(fraction) > exponent:
            raise DomainError(
                ErrorCode.INVALID_AMOUNT,
                f"{currency} amounts have at most {exponent} decimal places.",
            )
        minor = int(match["whole"]) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
        if minor <= 0:
            raise DomainError(ErrorCode.INVALID_AMOUNT, "The amount must be greater than zero.")
        if minor > MAX_MINOR_UNITS:
            raise DomainError(ErrorCode.INVALID_AMOUNT, "The amount is too large.")
        return cls(minor, currency)

    def format(self) -> str:
        """The amount as a decimal string with exactly the currency's exponent of digits."""
        exponent = exponent_of(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, fraction = divmod(abs(self.minor), 10**exponent)
        return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"
