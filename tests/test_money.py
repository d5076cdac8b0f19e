"""Money parsing and formatting: only plain positive decimal strings in the currency's precision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bff.domain.errors import DomainError, ErrorCode
from bff.domain.money import MAX_MINOR_UNITS, Money

BAD_USD_AMOUNTS = [
    pytest.param("NaN", id="nan-string"),
    pytest.param("nan", id="nan-lower"),
    pytest.param("Infinity", id="infinity"),
    pytest.param("inf", id="inf"),
    pytest.param("-inf", id="minus-inf"),
    pytest.param("1e3", id="exponent"),
    pytest.param("1E-2", id="negative-exponent"),
    pytest.param("0", id="zero"),
    pytest.param("0.00", id="zero-with-decimals"),
    pytest.param("0.0", id="zero-short-decimals"),
    pytest.param("-5", id="negative"),
    pytest.param("-0.01", id="negative-cent"),
    pytest.param("+5", id="explicit-plus"),
    pytest.param(" 5", id="leading-space"),
    pytest.param("5 ", id="trailing-space"),
    pytest.param("5\n", id="trailing-newline"),
    pytest.param("1,000", id="thousands-separator"),
    pytest.param("1,5", id="decimal-comma"),
    pytest.param("1.", id="trailing-dot"),
    pytest.param(".5", id="leading-dot"),
    pytest.param("01.5", id="leading-zero"),
    pytest.param("00", id="double-zero"),
    pytest.param("12.345", id="too-many-decimals"),
    pytest.param("1.2.3", id="two-dots"),
    pytest.param("", id="empty"),
    pytest.param("abc", id="letters"),
    pytest.param("0x10", id="hex"),
    pytest.param("1_000", id="underscore-separator"),
    pytest.param("\uff11\uff12", id="full-width-digits"),
    pytest.param("\u0661\u0662", id="arabic-indic-digits"),
    pytest.param("$5", id="currency-symbol"),
    pytest.param("10000000000000.01", id="just-above-maximum"),
    pytest.param("9" * 18, id="far-too-large"),
    pytest.param("1" + "0" * 30, id="more-digits-than-bigint"),
]


@pytest.mark.parametrize("amount", BAD_USD_AMOUNTS)
def test_bad_usd_amount_is_invalid_amount(amount: str) -> None:
    # given a string that is not a plain positive USD decimal
    # when / then
    with pytest.raises(DomainError) as caught:
        Money.parse(amount, "USD")
    assert caught.value.code is ErrorCode.INVALID_AMOUNT


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(12.34, id="float"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param(float("inf"), id="float-inf"),
        pytest.param(float("-inf"), id="float-minus-inf"),
        pytest.param(5.0, id="whole-float"),
        pytest.param(5, id="int"),
        pytest.param(Decimal("12.34"), id="decimal"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
        pytest.param(b"12.34", id="bytes"),
    ],
)
def test_non_string_amount_is_invalid_amount(amount: object) -> None:
    # given an amount that is not a string at all
    # when / then
    with pytest.raises(DomainError) as caught:
        Money.parse(amount, "USD")
    assert caught.value.code is ErrorCode.INVALID_AMOUNT


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        pytest.param("1.5", "JPY", id="jpy-has-no-minor-units"),
        pytest.param("1.0", "JPY", id="jpy-zero-fraction"),
        pytest.param("1.2345", "BHD", id="bhd-has-three-decimals"),
        pytest.param("12.345", "EUR", id="eur-has-two-decimals"),
        pytest.param("0", "JPY", id="jpy-zero"),
        pytest.param("0.000", "BHD", id="bhd-zero"),
    ],
)
def test_amount_beyond_currency_precision_is_invalid_amount(amount: str, currency: str) -> None:
    # given an amount with more decimals than the currency's ISO 4217 exponent (or zero)
    # when / then
    with pytest.raises(DomainError) as caught:
        Money.parse(amount, currency)
    assert caught.value.code is ErrorCode.INVALID_AMOUNT


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("12.3", "USD", 1230),
        ("12", "USD", 1200),
        ("0.01", "USD", 1),
        ("0.10", "EUR", 10),
        ("7", "JPY", 7),
        ("1000000", "KRW", 1000000),
        ("1.234", "BHD", 1234),
        ("0.001", "KWD", 1),
        ("1.2", "BHD", 1200),
        ("10000000000000.00", "USD", MAX_MINOR_UNITS),
    ],
)
def test_good_amount_parses_exactly(amount: str, currency: str, minor: int) -> None:
    # given a plain decimal string within the currency's precision
    # when
    money = Money.parse(amount, currency)
    # then
    assert money == Money(minor, currency)
    assert isinstance(money.minor, int)


@pytest.mark.parametrize("currency", ["XYZ", "usd", "", "US", "BTC"])
def test_unsupported_currency_is_typed(currency: str) -> None:
    # given a currency the bank does not hold
    # when / then
    with pytest.raises(DomainError) as caught:
        Money.parse("1.00", currency)
    assert caught.value.code is ErrorCode.UNSUPPORTED_CURRENCY


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1234, "USD", "12.34"),
        (1, "USD", "0.01"),
        (100, "USD", "1.00"),
        (-1234, "USD", "-12.34"),
        (-5, "EUR", "-0.05"),
        (0, "USD", "0.00"),
        (7, "JPY", "7"),
        (-7, "JPY", "-7"),
        (1234, "BHD", "1.234"),
        (-1, "BHD", "-0.001"),
        (MAX_MINOR_UNITS, "USD", "10000000000000.00"),
    ],
)
def test_format_shows_exactly_the_currency_exponent(minor: int, currency: str, text: str) -> None:
    # given an amount in minor units
    money = Money(minor, currency)
    # when
    formatted = money.format()
    # then
    assert formatted == text


@pytest.mark.parametrize("currency", ["USD", "JPY", "BHD"])
@pytest.mark.parametrize("minor", [1, 9, 10, 99, 100, 101, 1234, 100000, MAX_MINOR_UNITS])
@pytest.mark.parametrize("sign", [1, -1])
def test_format_round_trips_through_parse(currency: str, minor: int, sign: int) -> None:
    # given a signed amount
    money = Money(sign * minor, currency)
    # when it is formatted and the magnitude parsed back
    text = money.format()
    parsed = Money.parse(text.removeprefix("-"), currency)
    # then the sign and the exact minor units survive
    assert text.startswith("-") == (sign < 0)
    assert Money(sign * parsed.minor, parsed.currency) == money
