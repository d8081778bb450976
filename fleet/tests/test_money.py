"""Money helpers: rounding by the currency's minor unit (JPY has none), half-up, no floats; display formats."""

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import pytest
from django.utils import translation

from fleet.money import Currency, minor_units, money_format, money_round


@pytest.mark.parametrize(
    ("currency", "places"), [(Currency.JPY, 0), (Currency.USD, 2), (Currency.EUR, 2), (Currency.GBP, 2)]
)
def test_minor_units_per_currency(currency, places):
    assert minor_units(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234.4", "JPY", "1234"),
        ("1234.5", "JPY", "1235"),  # half-up, where banker's rounding would give 1234
        ("2.5", "JPY", "3"),
        ("-2.5", "JPY", "-3"),  # half away from zero
        ("0.125", "USD", "0.13"),  # banker's rounding would give 0.12
        ("0.135", "EUR", "0.14"),
        ("10.004", "GBP", "10.00"),
        ("-10.005", "GBP", "-10.01"),
        ("7", "USD", "7.00"),
    ],
)
def test_money_round_is_half_up_to_the_minor_unit(amount, currency, expected):
    rounded = money_round(Decimal(amount), currency)

    assert rounded == Decimal(expected)
    assert str(rounded) == expected  # the exponent follows the currency too


def test_jpy_keeps_no_minor_unit():
    assert money_round(Decimal("1500.00"), "JPY").as_tuple().exponent == 0


def test_money_round_takes_an_explicit_rounding_rule():
    assert money_round(Decimal("0.125"), "USD", rounding=ROUND_HALF_EVEN) == Decimal("0.12")
    assert money_round(Decimal("99.99"), "JPY", rounding=ROUND_DOWN) == Decimal("99")


@pytest.mark.parametrize("amount", [0.1, 1, 1234.5])
def test_money_round_rejects_anything_but_decimal(amount):
    with pytest.raises(TypeError):
        money_round(amount, "JPY")


def test_money_round_rejects_an_unknown_currency():
    with pytest.raises(ValueError):
        money_round(Decimal("1"), "XXX")


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234567", "JPY", "¥1,234,567"),
        ("1234.5", "JPY", "¥1,235"),
        ("1234.5", "USD", "$1,234.50"),
        ("1234.505", "USD", "$1,234.51"),
        ("0.5", "EUR", "€0.50"),
        ("999", "GBP", "£999.00"),
        ("-1234.5", "USD", "-$1,234.50"),
        ("-120000", "JPY", "-¥120,000"),
        ("-0.4", "JPY", "¥0"),
    ],
)
def test_money_format_in_english_and_japanese(language, amount, currency, expected):
    with translation.override(language):
        assert money_format(Decimal(amount), currency) == expected


def test_money_format_follows_the_active_locale():
    with translation.override("de"):
        assert money_format(Decimal("1234.5"), "EUR") == "€1.234,50"


def test_money_format_of_nothing_is_empty():
    assert money_format(None, "JPY") == ""
