"""Chinese shopper text, read into the English the rules understand.

The catalogues, the constraint parser and the intent rules are English. `english_reading()`
rewrites a Chinese or mixed message into English they read, from the lexicon in `chinese.yaml`:

    "我想要一把100美元以下的办公椅，不要Hon的"  ->  "I need a under $100 office chair, not Hon"
    "第二个有黑色的吗"                           ->  "the second one come in black?"
    "100到200美元之间的书架"                     ->  "between $100 and $200 bookcase"

Steps, in order: prices (a number with 以下 / 以内 / 不超过 / 到…之间 / 元 / 块 / 美元 …),
ordinals (第二个, 最后一个, 前两个), pointers (这个, 它), "has" after a pointer, quantities (两把, 一台),
then every other phrase, longest match first. Latin words, digits and order numbers pass through;
a Chinese word the lexicon lacks stays as it is (a multilingual embedder can still use it).

`chinese_rest()` is the other half for `parse()`: the Chinese text with its prices, negated brands,
request words and sort words taken out, which is what a Chinese query embeds when it is searched
"straight" rather than through its English reading.

Text without Han characters is returned unchanged, so English behaviour does not move.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_CLASS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Punctuation NFKC leaves alone.
_PUNCT = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "《": '"',
        "》": '"',
        "【": "(",
        "】": ")",
        "「": '"',
        "」": '"',
        "·": " ",
        "～": "~",
        "—": "-",
    }
)
# Sections of `words` whose phrases are taken out of the Chinese rest (see chinese_rest()).
_REST_DROP = ("requests", "sort")


def has_han(text: str) -> bool:
    return bool(HAN.search(text))


def prepare(text: str) -> str:
    """NFKC (full-width digits, ＄, ，？！) and the Chinese punctuation NFKC keeps."""
    return unicodedata.normalize("NFKC", text).translate(_PUNCT)


def _alt(words: list[str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


@dataclass(frozen=True)
class Lexicon:
    words: dict[str, str]  # Chinese phrase -> English, every section
    sections: dict[str, dict[str, str]]
    longest: int
    numbers: dict[str, int]
    units: dict[str, int]
    ordinals: tuple[str, ...]
    quantities: tuple[str, ...]
    pointers: dict[str, str]
    protect_re: re.Pattern[str]
    measure: str  # the measure words, as a regex alternation
    range_re: re.Pattern[str]
    after_re: re.Pattern[str]
    before_re: re.Pattern[str]
    bare_re: re.Pattern[str]
    before_kind: dict[str, str]
    after_kind: dict[str, str]
    ordinal_re: re.Pattern[str]
    last_re: re.Pattern[str]
    first_n_re: re.Pattern[str]
    pointer_re: re.Pattern[str]
    colour_has_re: re.Pattern[str]
    has_re: re.Pattern[str]
    opening_has_re: re.Pattern[str]
    quantity_re: re.Pattern[str]
    one_re: re.Pattern[str]
    negated_latin_re: re.Pattern[str]
    rest_drop: tuple[str, ...]


def _money(name: str, numeral: str, currency: str, not_after: str) -> str:
    return (
        rf"(?<![\d.$A-Za-z])(?<!\d,)(?:\$|¥|usd\s*)?\s*(?P<{name}>\d[\d,]*(?:\.\d+)?\s*[kK千万]?|{numeral})"
        rf"\s*(?P<{name}_unit>{currency})?(?![\d.]|\s*(?:{not_after}|[a-zA-Z%]))"
    )


def _build(data: dict[str, Any]) -> Lexicon:
    sections: dict[str, dict[str, str]] = {}
    words: dict[str, str] = {}
    for section, table in data["words"].items():
        clean: dict[str, str] = {}
        for zh, en in table.items():
            if not isinstance(zh, str) or not isinstance(en, str):
                raise ValueError(f"chinese.yaml {section}: {zh!r}: {en!r} must both be text")
            key = prepare(zh)
            if key in words:
                raise ValueError(f"chinese.yaml: {zh!r} appears twice ({section})")
            clean[key] = en
            words[key] = en
        sections[section] = clean
    prices = data["prices"]
    measure = _alt(data["measure_words"])
    not_after = _alt(data["not_money_after"])
    digits = "".join(data["numbers"])
    units = "".join(data["number_units"])
    numeral = rf"[{digits}]*[{units}][{digits}{units}]*"
    safe = rf"(?=[钱的以左上内之到至或起吗呢和与~-]|[^{_HAN_CLASS}]|$)"
    currency = rf"(?:{_alt(prices['currency'])})|(?:{_alt(prices['currency_loose'])}){safe}"

    def money(name: str) -> str:
        return _money(name, numeral, currency, not_after)

    before_kind = {w: kind for kind, ws in prices["before"].items() for w in ws}
    after_kind = {w: kind for kind, ws in prices["after"].items() for w in ws}
    start = _alt(prices["range_start"])
    range_re = re.compile(
        rf"(?:{start})?\s*{money('a')}\s*(?P<join>{_alt(prices['range_join'])})\s*{money('b')}"
        rf"\s*(?P<end>{_alt(prices['range_end'])})?",
        re.I,
    )
    after_re = re.compile(
        rf"(?:{start})?\s*{money('n')}\s*(?P<word>{_alt(list(after_kind))})", re.I
    )
    before_re = re.compile(rf"(?P<word>{_alt(list(before_kind))})\s*{money('n')}", re.I)
    bare_re = re.compile(money("n"), re.I)
    nums = _alt([*data["numbers"], "十"])
    ordinal_re = re.compile(rf"第\s*(?P<n>{nums}|10|[1-9])(?!\d)\s*(?:{measure})?")
    last_re = re.compile(rf"最后(?:一|那)?\s*(?:{measure})")
    first_n_re = re.compile(rf"(?:前|头)\s*(?P<n>两|二|三|2|3)\s*(?:{measure})?")
    pointers = {prepare(k): v for k, v in data["pointers"].items()}
    pointer_re = re.compile(rf"(?:{_alt(list(pointers))})|(?P<dem>[这那])一?(?:{measure})")
    pointed = r"(?P<p>\b(?:the \w+ one|this one|that one|it|these|those|them)\b)"
    colour_has_re = re.compile(
        rf"{pointed}\s*(?:有没有|有)\s*(?=(?:{_alt(list(sections['colours']))}))"
    )
    has_re = re.compile(rf"{pointed}\s*(?:有没有|有)")
    opening_has_re = re.compile(r"(?P<lead>^\s*|[,.!?;]\s*)(?:你们)?有(?!没有)")
    quantity_re = re.compile(
        rf"(?<!第)(?<![\d.])(?P<n>[两二三四五六七八九十]|\d{{1,2}})\s*(?:{measure})"
    )
    one_re = re.compile(rf"(?<!第)一\s*(?:{measure})")
    negations = [k for k, v in sections["negation"].items() if v in ("not", "except", "excluding")]
    negated_latin_re = re.compile(
        rf"(?:{_alt(negations)})\s*(?P<name>[A-Za-z0-9][A-Za-z0-9&'.-]*(?:\s+[A-Za-z][A-Za-z0-9&'.-]*)*)"
        r"\s*(?:的|以外|之外|牌子|品牌|这个牌子)?"
    )
    # Phrases the number, pointer and "has" steps would cut up ("不要这个牌子", "换一个", "一样",
    # "有什么区别", "背包"): read whole, before those steps.
    triggers = set("".join(data["measure_words"])) | set(digits) | set(units) | set("有这那它第")
    protected = [k for k in words if len(k) > 1 and triggers & set(k)]
    protect_re = re.compile(_alt(protected))
    rest_drop = tuple(k for s in _REST_DROP for k in sections[s])
    return Lexicon(
        words=words,
        sections=sections,
        longest=max(map(len, words)),
        numbers=dict(data["numbers"]),
        units=dict(data["number_units"]),
        ordinals=tuple(data["ordinals"]),
        quantities=tuple(data["quantities"]),
        pointers=pointers,
        protect_re=protect_re,
        measure=measure,
        range_re=range_re,
        after_re=after_re,
        before_re=before_re,
        bare_re=bare_re,
        before_kind=before_kind,
        after_kind=after_kind,
        ordinal_re=ordinal_re,
        last_re=last_re,
        first_n_re=first_n_re,
        pointer_re=pointer_re,
        colour_has_re=colour_has_re,
        has_re=has_re,
        opening_has_re=opening_has_re,
        quantity_re=quantity_re,
        one_re=one_re,
        negated_latin_re=negated_latin_re,
        rest_drop=tuple(sorted(rest_drop, key=len, reverse=True)),
    )


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The lexicon shipped next to this module (package data, read once)."""
    source = files("retrieval").joinpath("chinese.yaml").read_text(encoding="utf-8")
    return _build(yaml.safe_load(source))


# Numbers --------------------------------------------------------------------------------------
def chinese_number(text: str, lex: Lexicon | None = None) -> float | None:
    """ "一百" 100, "两百五十" 250, "一千二" 1200, "1千" 1000, "2万" 20000, "120" 120."""
    lex = lex or lexicon()
    s = text.replace(",", "").replace(" ", "").lower()
    if not s:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([k千万]?)", s)
    if m:
        return float(m.group(1)) * {"": 1, "k": 1000, "千": 1000, "万": 10000}[m.group(2)]
    total, section, digit = 0.0, 0.0, None
    last_unit = 1
    for ch in s:
        if ch in lex.numbers:
            digit = lex.numbers[ch]
            if digit == 0:
                last_unit = 1  # "一百零五": what follows a zero is units
        elif ch in lex.units:
            unit = lex.units[ch]
            if unit == 10000:
                total += (section + (digit or 0)) * unit
                section, digit = 0.0, None
            else:
                section += (1 if digit is None else digit) * unit
                digit = None
            last_unit = unit
        else:
            return None
    if digit is not None:  # "两百五" is 250: a trailing digit counts in the next lower unit
        section += digit * (last_unit // 10 if last_unit >= 100 else 1)
    return total + section


def _dollars(raw: str, lex: Lexicon) -> str | None:
    value = chinese_number(raw, lex)
    if value is None:
        return None
    return f"${value:,.0f}" if value == int(value) else f"${value:,.2f}"


# The steps -------------------------------------------------------------------------------------
def _prices(text: str, lex: Lexicon) -> str:
    def ranged(m: re.Match[str]) -> str:
        loose = m.group("join") in ("和", "与", "跟")
        priced = m.group("a_unit") or m.group("b_unit") or m.group("end")
        if loose and not m.group("end") or not priced and m.group("join") not in "到至-~":
            return m.group(0)
        a, b = _dollars(m.group("a"), lex), _dollars(m.group("b"), lex)
        return f" between {a} and {b} " if a and b else m.group(0)

    def bounded(m: re.Match[str]) -> str:
        kind = (lex.after_kind if m.re is lex.after_re else lex.before_kind)[m.group("word")]
        amount = _dollars(m.group("n"), lex)
        if amount is None:
            return m.group(0)
        word = {"max": "under", "min": "over", "around": "around"}[kind]
        return f" {word} {amount} "

    def bare(m: re.Match[str]) -> str:
        amount = _dollars(m.group("n"), lex) if m.group("n_unit") else None
        return f" {amount} " if amount else m.group(0)

    text = lex.range_re.sub(ranged, text)
    text = lex.after_re.sub(bounded, text)
    text = lex.before_re.sub(bounded, text)
    return lex.bare_re.sub(bare, text)


def _number_word(raw: str, words: tuple[str, ...], lex: Lexicon) -> str | None:
    value = chinese_number(raw, lex) if raw != "十" else 10.0
    if value is None or not 1 <= value <= len(words) or value != int(value):
        return None
    return words[int(value) - 1]


def _protect(text: str, lex: Lexicon) -> str:
    return lex.protect_re.sub(lambda m: f" {lex.words[m.group(0)]} ", text)


def _pointing(text: str, lex: Lexicon) -> str:
    def ordinal(m: re.Match[str]) -> str:
        word = _number_word(m.group("n"), lex.ordinals, lex)
        return f" the {word} one " if word else m.group(0)

    def first_n(m: re.Match[str]) -> str:
        return f" the first {_number_word(m.group('n'), lex.quantities, lex)} "

    def pointer(m: re.Match[str]) -> str:
        if m.group("dem"):
            return " this one " if m.group("dem") == "这" else " that one "
        return f" {lex.pointers[m.group(0)]} "

    text = lex.ordinal_re.sub(ordinal, text)
    text = lex.last_re.sub(" the last one ", text)
    text = lex.first_n_re.sub(first_n, text)
    text = lex.pointer_re.sub(pointer, text)
    # "第二个有黑色的吗": does the second one come in black? "它有扶手吗": does it have arms?
    text = lex.colour_has_re.sub(lambda m: f" does {m.group('p')} come in ", text)
    text = lex.has_re.sub(lambda m: f" does {m.group('p')} have ", text)
    return lex.opening_has_re.sub(lambda m: f"{m.group('lead')}do you have ", text)


def _quantities(text: str, lex: Lexicon) -> str:
    def quantity(m: re.Match[str]) -> str:
        raw = m.group("n")
        if raw.isdigit():
            return f" {raw} "
        return f" {_number_word(raw, lex.quantities, lex) or raw} "

    text = lex.quantity_re.sub(quantity, text)
    return lex.one_re.sub(" a ", text)


def _phrases(text: str, lex: Lexicon) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if not HAN.match(text, i):
            out.append(text[i])
            i += 1
            continue
        for size in range(min(lex.longest, n - i), 0, -1):
            english = lex.words.get(text[i : i + size])
            if english is not None:
                out.append(f" {english} ")
                i += size
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?;:)])", r"\1", text)
    text = re.sub(r"([,;:])(?=[^\s\d])", r"\1 ", text)
    text = re.sub(r"([?!.,])(?:\s*[?!.,])+", r"\1", text)
    return text.strip(" ,;:")


# Codes with letters and digits ("CA-2016-152156", "#W4776164", "750ml", "A4") are read as they
# are: masked while the steps run, so "2016-152156" is never a price range.
_CODE = re.compile(r"(?<![A-Za-z0-9])#?[A-Za-z]+[A-Za-z0-9-]*\d[A-Za-z0-9-]*")
_MASK = 0xE000  # private-use characters stand in for the codes
_MASKED = re.compile("[\ue000-\ue0ff]")


def _with_codes_masked(text: str, read: Callable[[str], str]) -> str:
    codes: list[str] = []

    def mask(m: re.Match[str]) -> str:
        if len(codes) > 0xFF:
            return m.group(0)
        codes.append(m.group(0))
        return f" {chr(_MASK + len(codes) - 1)} "

    out = read(_CODE.sub(mask, prepare(text)))
    return _MASKED.sub(lambda m: codes[ord(m.group(0)) - _MASK], out)


def english_reading(text: str) -> str:
    """The message as English the rules read; text without Han characters comes back as is."""
    if not has_han(text):
        return text
    lex = lexicon()

    def read(out: str) -> str:
        for step in (_prices, _protect, _pointing, _quantities, _phrases):
            out = step(out, lex)
        return out

    return _tidy(_with_codes_masked(text, read))


def chinese_rest(text: str, excluded: frozenset[str] = frozenset()) -> str:
    """The Chinese text left once the constraints are read: prices, negated brands (those in
    `excluded`), request and sort words, a leading "一把" and loose "的" are taken out
    ("我想要一把100美元以下的办公椅，不要Hon的" leaves "办公椅")."""
    lex = lexicon()
    low = {b.lower() for b in excluded}

    def read(out: str) -> str:
        for pattern in (lex.range_re, lex.after_re, lex.before_re):
            out = pattern.sub(" ", out)
        out = lex.negated_latin_re.sub(
            lambda m: " " if m.group("name").strip().lower() in low else m.group(0), out
        )
        for phrase in lex.rest_drop:
            out = out.replace(phrase, " ")
        out = re.sub(rf"(^|[\s,.!?;:])一(?:{lex.measure})\s*", r"\1", out)
        return re.sub(r"(^|[\s,.!?;:])的", r"\1", out)

    out = _with_codes_masked(text, read)
    out = re.sub(r"\s*([,.!?;:])(?:\s*[,.!?;:])*", r"\1 ", out)
    out = re.sub(r"^[\s,.!?;:的]+|[\s,.!?;:的吗呢]+$", "", out)
    return " ".join(out.split())
