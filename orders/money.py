"""Money is integer minor units everywhere; people type and read major units. These two functions are
the only place that converts (Decimal, never float)."""

from decimal import Decimal, InvalidOperation

from django.conf import settings

ZERO_DECIMAL_CURRENCIES = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "PLN": "zł ", "CHF": "CHF ", "INR": "₹"}


def decimals(currency: str | None = None) -> int:
    return 0 if (currency or settings.ORDERS_CURRENCY).upper() in ZERO_DECIMAL_CURRENCIES else 2


def to_minor(text: str | Decimal | int, currency: str | None = None) -> int:
    """'12.5' → 1250 (USD). Raises ValueError for text that is not an amount or has too many decimals."""
    places = decimals(currency)
    try:
        value = Decimal(str(text).strip().replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        raise ValueError(f"{text!r} has more than {places} decimal places")
    return int(minor)


def format_minor(value: int | None, currency: str | None = None, *, symbol: bool = True) -> str:
    """1234567 → '$12,345.67'; None → '—'."""
    if value is None:
        return "—"
    currency = (currency or settings.ORDERS_CURRENCY).upper()
    places = decimals(currency)
    sign = "-" if value < 0 else ""
    major = Decimal(abs(value)).scaleb(-places)
    number = f"{major:,.{places}f}"
    if not symbol:
        return f"{sign}{number}"
    prefix = SYMBOLS.get(currency)
    return f"{sign}{prefix}{number}" if prefix else f"{sign}{number} {currency}"


def minor_to_input(value: int | None, currency: str | None = None) -> str:
    """The value an <input> shows for an amount: '12.50' (no symbol, no grouping)."""
    if value is None:
        return ""
    places = decimals(currency)
    return f"{Decimal(value).scaleb(-places):.{places}f}"
