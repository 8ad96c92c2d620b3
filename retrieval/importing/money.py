"""Prices as shop exports write them: "29.99", "$1,299.00", "1.299,00 €", "EUR 12", "12,50 kr".

`parse_money` returns the amount and the currency the text names (None when it names none), or
raises `PriceError` with a reason a shop owner can act on ("call us" is not a price; "₿ 5" names
a currency this store cannot take). Amounts are rounded to cents.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Symbols and their currencies. A symbol shared by several currencies ("$", "¥", "kr") names
# the first by default and is accepted in a store of any of them.
SYMBOLS: dict[str, tuple[str, ...]] = {
    "$": ("USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "ARS", "CLP", "COP", "TWD"),
    "US$": ("USD",),
    "C$": ("CAD",),
    "CA$": ("CAD",),
    "A$": ("AUD",),
    "AU$": ("AUD",),
    "NZ$": ("NZD",),
    "HK$": ("HKD",),
    "S$": ("SGD",),
    "MX$": ("MXN",),
    "NT$": ("TWD",),
    "R$": ("BRL",),
    "€": ("EUR",),
    "£": ("GBP",),
    "¥": ("JPY", "CNY"),
    "￥": ("CNY", "JPY"),
    "元": ("CNY",),
    "円": ("JPY",),
    "₹": ("INR",),
    "₩": ("KRW",),
    "₽": ("RUB",),
    "₺": ("TRY",),
    "₪": ("ILS",),
    "₫": ("VND",),
    "₱": ("PHP",),
    "฿": ("THB",),
    "₴": ("UAH",),
    "zł": ("PLN",),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
    "Kč": ("CZK",),
    "Ft": ("HUF",),
    "lei": ("RON",),
    "CHF": ("CHF",),
    "Fr.": ("CHF",),
}
# ISO 4217 codes accepted when written out ("EUR 12", "12.00 USD").
CODES = frozenset(
    {c for codes in SYMBOLS.values() for c in codes}
    | {"ZAR", "SAR", "AED", "QAR", "EGP", "NGN", "KES", "IDR", "MYR", "PEN", "BGN"}
)
SYMBOL_OF = {
    "USD": "$",
    "CAD": "C$",
    "AUD": "A$",
    "NZD": "NZ$",
    "HKD": "HK$",
    "SGD": "S$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "BRL": "R$",
}

_PLAIN = re.compile(r"\d+(?:\.\d+)?")
_MONEY = re.compile(
    r"(?P<sign>[-+−]?)\s*(?P<pre>[^\d\s,+\-−]{1,4}?)?\s*(?P<sign2>[-+−]?)\s*"
    r"(?P<num>\d(?:[\d.,'\u00a0\u202f ]*\d)?)\s*(?P<post>[^\d\s]{1,4})?"
)


class PriceError(ValueError):
    """Why a text is not a usable price (the message is the reason shown in the report)."""


class Money(NamedTuple):
    amount: float
    currency: str | None  # the ISO code the text named, None when it named none


def currency_symbol(code: str) -> str:
    """The symbol prices are shown with ('USD' → '$'); the code itself when it has none."""
    return SYMBOL_OF.get(code.upper(), code.upper() + " ")


def _number(text: str) -> float:
    s = re.sub(r"[\s'\u00a0\u202f]", "", text)
    if "," in s and "." in s:
        # The later separator is the decimal one: "1,299.00" or "1.299,00".
        if s.rfind(",") > s.rfind("."):
            s = s.replace(".", "").replace(",", ".")
        else:
            s = s.replace(",", "")
    elif "," in s:
        head, _, tail = s.rpartition(",")
        # "12,50" / "12,5" is a decimal comma; "1,299" and "1,299,000" are thousands.
        s = f"{head}.{tail}" if s.count(",") == 1 and len(tail) in (1, 2) else s.replace(",", "")
    elif s.count(".") > 1:
        s = s.replace(".", "")  # "1.299.000"
    return float(s)


def _currency(mark: str) -> tuple[str, ...] | None:
    mark = mark.strip()
    if not mark:
        return ()
    if mark in SYMBOLS:
        return SYMBOLS[mark]
    if mark.upper() in CODES:
        return (mark.upper(),)
    return SYMBOLS.get(mark.lower()) or SYMBOLS.get(mark.capitalize())


def parse_money(text: str, currency: str | None = None) -> Money:
    """The amount in `text`. `currency` is the store's (an ISO code) when known: a price that
    names another currency is refused. Raises PriceError with the reason."""
    raw = (text or "").strip()
    if not raw:
        raise PriceError("missing price")
    if _PLAIN.fullmatch(raw):
        return Money(round(float(raw), 2), None)
    m = _MONEY.fullmatch(raw)
    if m is None:
        raise PriceError(f"unparseable price {raw!r}")
    pre, post = m.group("pre") or "", m.group("post") or ""
    if pre and post:
        raise PriceError(f"unparseable price {raw!r}")
    mark = pre or post
    codes = _currency(mark)
    if codes is None:
        raise PriceError(f"unknown currency symbol {mark!r} in price {raw!r}")
    try:
        amount = _number(m.group("num"))
    except ValueError:
        raise PriceError(f"unparseable price {raw!r}") from None
    if m.group("sign") in ("-", "−") or m.group("sign2") in ("-", "−"):
        raise PriceError(f"negative price {raw!r}")
    found = None
    if codes:
        if currency and currency.upper() in codes:
            found = currency.upper()
        elif currency:
            raise PriceError(
                f"price {raw!r} is in {codes[0]}, but the store's currency is {currency.upper()}"
            )
        else:
            found = codes[0]
    return Money(round(amount, 2), found)


def check_currency(code: str) -> str:
    code = (code or "").strip().upper()
    if code not in CODES:
        raise ValueError(f"unknown currency {code!r}; use an ISO 4217 code such as USD or EUR")
    return code
