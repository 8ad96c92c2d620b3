"""Every generated reply is checked before it is shown.

It may name only products that were among its candidates, state only prices the catalogue holds
(or the shopper's own budget), quote only order facts that code supplied, promise no discount,
and never echo the system prompt. Anything else fails and the caller shows the template.

The checks read English and Simplified Chinese alike: full-width forms (１２０, ＄, ￥, ％) fold to
ASCII first, prices are also read as "120元", "¥120", "120美元", "一百二十元"; ids, dates and brands are
found between Han characters; discount and promise words are caught in Chinese (打折, 优惠, 免费,
保证, 包邮 ...), and so are echoed prompt labels ("顾客：") and narration ("该顾客").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from retrieval.catalogue import CatalogueIndex

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Word edges that hold inside Chinese text too: `\b` finds none between "订单" and "CA-2016-...",
# since Han characters are word characters. For text without Han they are exactly `\b`.
_L = rf"(?<![^\W{HAN}])"
_R = rf"(?![^\W{HAN}])"
# Full-width ASCII (U+FF01-FF5E), the ideographic space and the full-width yen sign, one character
# for one (so positions found in the folded text hold in the original).
_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xFFE5: 0xA5}


def fold_width(text: str) -> str:
    """ "１２０元，￥９９" -> "120元,¥99": full-width digits, letters and signs as ASCII."""
    return text.translate(_WIDTH)


PRODUCT_ID = re.compile(rf"{_L}(?:[A-Z]{{3}}-[A-Z]{{2}}-\d{{8}}|EL-[0-9A-F]{{10}}){_R}")
# "$12.50", "USD 12.50", "12.50 dollars", and the other currencies an imported store may use
# ("€12.50", "£9", "12.50 EUR", "12.50 €"): a price the model states is checked in any of them.
PRICE = re.compile(
    r"(?:\$|USD\s?|US\$|€|£|EUR\s?|GBP\s?|CAD\s?|AUD\s?|C\$|A\$)\s?(\d[\d,]*(?:\.\d{1,2})?)"
    r"|(\d[\d,]*(?:\.\d{1,2})?)\s?(?:(?:dollars|euros?|pounds|USD|EUR|GBP)\b|[€£])",
    re.I,
)
# Chinese numerals: 一百二十, 两千, 九十九点九, 1.2万.
_ZH_NUM = "零〇一二两三四五六七八九十百千万点"
_ZH_NUMBER = rf"(?:\d[\d,]*(?:\.\d+)?[十百千万]?|[{_ZH_NUM}]+)"
# A Chinese price: "120元", "99.9 美元", "一百元", "30块钱", "120块"; "¥120", "人民币120"
# ("一块白板" is a board, not a price: 块 alone counts after Arabic digits only).
ZH_PRICE = re.compile(
    rf"(?P<a>{_ZH_NUMBER})\s?(?:美元|美金|元|块钱)"
    r"|(?P<b>\d[\d,]*(?:\.\d+)?)\s?(?:块|刀)(?!钱)"
    rf"|(?:¥|人民币|美元|美金)\s?(?P<c>{_ZH_NUMBER})"
)
PERCENT = re.compile(rf"(?:\b|(?<=[{HAN}]))\d{{1,3}}(?:\.\d+)?\s?%")
ZH_PERCENT = re.compile(rf"百分之(?P<n>[{_ZH_NUM}]+|\d+(?:\.\d+)?)")
# A Chinese count or duration the model states ("三十天", "两个工作日", "五年"); a lone 一 with
# 个/件/次 is "a", not a number.
_ZH_QUANTITY = re.compile(
    rf"(?P<n>[{_ZH_NUM}]+)(?=工作日|营业日|个月|小时|分钟|星期|天|日|周|年|倍|个|件|次|%)(?P<u>.)"
)
PROMO = re.compile(
    r"\b(discount|coupon|promo(tion)? code|voucher|% off|sale price|"
    r"price match|free of charge|gift cards?|free shipping|for free|"
    r"special offer|offer you)\b"
    # Chinese: discounts, coupons, free, free shipping, gifts, guarantees and promises, "八折".
    r"|(打折|折扣|优惠|促销|特价|特惠|减价|降价|让利|免费|包邮|免运费|赠品|赠送|"
    r"代金券|礼品卡|购物卡|返现|满减|秒杀|限时|保证|担保|承诺|保价|价格匹配|"
    rf"(?:[{_ZH_NUM}]{{1,2}}|\d(?:\.\d)?)折)",
    re.I,
)
# Prompt scaffolding a small model sometimes echoes back ("SHOPPER: ...", "PRODUCTS:").
SCAFFOLD = re.compile(
    r"\b(?i:shopper|customer|request|products?|question|passages|facts|system|user|message|"
    r"assistant|rules?|why it fits)\s*:|\[\d+\]|^\s*[-*\d]+[.)]\s"
    # The Chinese prompts' labels (checked on folded text: "：" reads ":").
    r"|(?:顾客|客户|购物者|用户|请求|商品|产品|问题|资料|段落|事实|系统|消息|助手|规则|推荐理由)\s*:",
    re.M,
)
_STOP = frozenset(
    [
        "this",
        "that",
        "with",
        "from",
        "have",
        "your",
        "will",
        "they",
        "them",
        "their",
        "there",
        "what",
        "when",
        "which",
        "about",
        "into",
        "than",
        "then",
        "also",
        "been",
        "were",
        "more",
        "most",
        "some",
        "such",
        "only",
        "very",
        "just",
        "would",
        "could",
        "should",
    ]
)
# A reply speaks to the shopper as "you". A small model narrates instead ("The shopper chose
# ...", "the user prefers"), and then claims things about them no fact supports.
NARRATION = re.compile(
    r"\b(the|this|our) (shopper|user)('s)?\b|\b(shopper|customer)s? (chose|wants?|prefers?|"
    r"bought|likes?|is looking)\b|\b(an?|the) ([\w-]+ )?ai\b|\bi'?m an? ai\b"
    r"|(这位|该|此)(顾客|用户|购物者|客户)|(顾客|用户|购物者)(选择了|想要|喜欢|偏好|购买了|正在寻找)"
    r"|我是(一个|一款)?(ai|人工智能|语言模型|机器人)",
    re.I,
)
# Words that state a property of a product: each must be in that product's own text.
ATTRIBUTE_WORDS = frozenset(
    [
        "black",
        "white",
        "grey",
        "gray",
        "silver",
        "gold",
        "red",
        "blue",
        "green",
        "yellow",
        "orange",
        "purple",
        "pink",
        "brown",
        "beige",
        "navy",
        "clear",
        "transparent",
        "wood",
        "wooden",
        "oak",
        "walnut",
        "cherry",
        "mahogany",
        "maple",
        "metal",
        "steel",
        "aluminum",
        "aluminium",
        "chrome",
        "plastic",
        "glass",
        "leather",
        "mesh",
        "fabric",
        "vinyl",
        "cotton",
        "bamboo",
        "rubber",
        "acrylic",
        "adjustable",
        "ergonomic",
        "lumbar",
        "swivel",
        "reclining",
        "recliner",
        "folding",
        "foldable",
        "stackable",
        "portable",
        "wireless",
        "cordless",
        "bluetooth",
        "rechargeable",
        "waterproof",
        "washable",
        "ergonomic",
        "padded",
        "cushioned",
        "armless",
        "arms",
        "armrests",
        "wheels",
        "casters",
        "locking",
        "lockable",
        "fireproof",
        "magnetic",
        "recycled",
        "heavy-duty",
        "lightweight",
        "compact",
        "mini",
        "large",
        "extra-large",
        "tall",
        "wide",
        "small",
        "round",
        "rectangular",
        "square",
        "usb",
        "led",
        "halogen",
        "fluorescent",
        "dimmable",
        "digital",
        "electric",
        "electronic",
        "manual",
        "automatic",
        "laser",
        "inkjet",
        "color",
        "colour",
        "duplex",
        "stereo",
        "noise-cancelling",
        "hands-free",
        "touchscreen",
        "waterproof",
        "organic",
        "refillable",
        "reusable",
        "disposable",
        "erasable",
        "self-adhesive",
    ]
)
# The same properties in Chinese: a Chinese sentence claiming 黑色 (black) needs "black" (or a
# word of the same sense) in the product's own text, as an English one does.
ZH_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "黑色": ("black",),
    "白色": ("white",),
    "灰色": ("grey", "gray"),
    "银色": ("silver",),
    "金色": ("gold",),
    "红色": ("red",),
    "蓝色": ("blue", "navy"),
    "绿色": ("green",),
    "黄色": ("yellow",),
    "橙色": ("orange",),
    "紫色": ("purple",),
    "粉色": ("pink",),
    "粉红色": ("pink",),
    "棕色": ("brown",),
    "米色": ("beige",),
    "透明": ("clear", "transparent"),
    "实木": ("wood", "oak", "walnut", "cherry", "mahogany", "maple"),
    "木质": ("wood", "oak", "walnut", "cherry", "mahogany", "maple"),
    "木制": ("wood", "oak", "walnut", "cherry", "mahogany", "maple"),
    "金属": ("metal", "steel", "aluminum", "aluminium", "chrome"),
    "钢制": ("steel",),
    "不锈钢": ("steel", "stainless"),
    "铝": ("aluminum", "aluminium"),
    "塑料": ("plastic", "vinyl", "acrylic"),
    "玻璃": ("glass",),
    "皮革": ("leather",),
    "真皮": ("leather",),
    "网布": ("mesh",),
    "网眼": ("mesh",),
    "布艺": ("fabric", "cotton"),
    "织物": ("fabric",),
    "竹": ("bamboo",),
    "橡胶": ("rubber",),
    "可调节": ("adjustable",),
    "可调": ("adjustable",),
    "人体工学": ("ergonomic",),
    "人体工程学": ("ergonomic",),
    "腰托": ("lumbar",),
    "腰部支撑": ("lumbar",),
    "旋转": ("swivel",),
    "可躺": ("reclining", "recliner"),
    "折叠": ("folding", "foldable"),
    "可堆叠": ("stackable",),
    "便携": ("portable",),
    "无线": ("wireless", "cordless"),
    "蓝牙": ("bluetooth",),
    "可充电": ("rechargeable",),
    "防水": ("waterproof",),
    "可水洗": ("washable",),
    "软垫": ("padded", "cushioned"),
    "扶手": ("arms", "armrests"),
    "无扶手": ("armless",),
    "轮子": ("wheels", "casters"),
    "脚轮": ("casters", "wheels"),
    "带锁": ("locking", "lockable"),
    "防火": ("fireproof",),
    "磁性": ("magnetic",),
    "再生": ("recycled",),
    "重型": ("heavy-duty",),
    "轻便": ("lightweight", "portable"),
    "轻量": ("lightweight",),
    "紧凑": ("compact",),
    "迷你": ("mini",),
    "数码": ("digital",),
    "电动": ("electric",),
    "激光": ("laser",),
    "喷墨": ("inkjet",),
    "彩色": ("color", "colour"),
    "双面": ("duplex",),
    "立体声": ("stereo",),
    "降噪": ("noise-cancelling",),
    "免提": ("hands-free",),
    "触摸屏": ("touchscreen",),
    "可重复使用": ("reusable",),
    "一次性": ("disposable",),
    "可擦": ("erasable",),
    "自粘": ("self-adhesive",),
}


def zh_attributes_in(text: str) -> list[str]:
    """The Chinese attribute words of `text`, longest first, none inside a longer one found
    ("无扶手" is armless, not also 扶手)."""
    found: list[str] = []
    for word in sorted(ZH_ATTRIBUTES, key=len, reverse=True):
        if word in text and not any(word in longer for longer in found):
            found.append(word)
    return found


ORDER_ID = re.compile(rf"{_L}[A-Z]{{2}}-\d{{4}}-\d{{5,7}}{_R}")
DATE = re.compile(rf"{_L}\d{{4}}-\d{{2}}-\d{{2}}{_R}")
# "2016年11月8日", "11月8日": the same dates in Chinese.
ZH_DATE = re.compile(r"(?:(?P<y>\d{4})\s?年\s?)?(?P<m>\d{1,2})\s?月\s?(?P<d>\d{1,2})\s?[日号]")
_HAN_RUN = re.compile(f"[{HAN}]+")


PROMPT_RUN = 6  # words: a run this long copied from a system prompt leaks the prompt


def word_runs(text: str, n: int = PROMPT_RUN) -> set[str]:
    """Every run of n words (lower case, punctuation dropped): "a friendly, concise shop
    assistant at" and "A friendly concise shop assistant at" are the same run. Chinese has no
    spaces: a run of 2n Han characters (about n words) is a run too."""
    w = re.findall(r"[a-z0-9']+", text.lower())
    runs = {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}
    m = 2 * n
    for han in _HAN_RUN.findall(text):
        runs |= {han[i : i + m] for i in range(len(han) - m + 1)}
    return runs


_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_ZH_DIGIT |= {"七": 7, "八": 8, "九": 9}
_ZH_UNIT = {"十": 10, "百": 100, "千": 1000}


def _zh_section(s: str) -> float | None:
    """A number below 10,000 in Chinese numerals or digits: "一百二十" 120, "十五" 15, "两百五"
    250, "九九" 99, "3千" 3000."""
    total, num, last_unit = 0.0, None, 0
    i = 0
    digits_only = True  # "九九", "二〇一六": digits read one after another
    right_after_unit = False  # "两百五" (250), not "一百零五" (105)
    while i < len(s):
        ch = s[i]
        m = re.match(r"\d+(?:\.\d+)?", s[i:])
        if m:
            num = float(m.group(0))
            i += len(m.group(0))
            right_after_unit = False
            continue
        if ch in _ZH_DIGIT:
            if num is not None and digits_only:
                num = num * 10 + _ZH_DIGIT[ch]
            else:
                right_after_unit = num is None and last_unit > 0 and _ZH_DIGIT[ch] > 0
                num = _ZH_DIGIT[ch] if _ZH_DIGIT[ch] or num is None else num
        elif ch in _ZH_UNIT:
            digits_only = False
            total += (1 if num is None else num) * _ZH_UNIT[ch]
            num, last_unit = None, _ZH_UNIT[ch]
        else:
            return None
        i += 1
    if num is not None:
        # "两百五" is 250: a digit right after a unit of 100 or more is worth a tenth of it.
        implied = right_after_unit and last_unit >= 100
        total += num * (last_unit // 10) if implied else num
    return total


def zh_number(text: str) -> float | None:
    """The value of a number written in Chinese numerals, digits or both ("一百二十" 120,
    "1.2万" 12000, "九十九点九" 99.9, "１２０" 120); None when it is not one."""
    s = fold_width(text).replace(",", "").strip()
    if not s:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    integer, _, fraction = s.partition("点")
    value = 0.0
    if "万" in integer:
        high, _, integer = integer.partition("万")
        h = _zh_section(high) if high else 1.0
        if h is None:
            return None
        value += h * 10_000
    if integer:
        low = _zh_section(integer)
        if low is None:
            return None
        value += low
    elif not value:
        return None
    if fraction:
        if not all(c in _ZH_DIGIT or c.isdigit() for c in fraction):
            return None
        value += float("0." + "".join(str(_ZH_DIGIT.get(c, c)) for c in fraction))
    return value


def _number_text(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def zh_numbers_in(text: str) -> list[str]:
    """The numbers a Chinese text states in Chinese numerals, as digits: counts and durations
    ("三十天" -> "30", "两个" -> "2"; "一个" is "a") and prices ("一百二十元" -> "120"). Arabic
    digits are left to the caller's own pattern (after `fold_width`)."""
    folded = fold_width(text)
    out = []
    for m in _ZH_QUANTITY.finditer(folded):
        n, unit = m.group("n"), m.group("u")
        if n == "一" and unit in "个件次":
            continue
        value = zh_number(n)
        if value is not None:
            out.append(_number_text(value))
    for m in ZH_PRICE.finditer(folded):
        raw = m.group("a") or m.group("c") or ""
        if raw and not raw[0].isdigit():
            value = zh_number(raw)
            if value is not None:
                out.append(_number_text(value))
    return out


def percents_in(text: str) -> list[str]:
    """Percentages as "15%": "15 %", "１５％" and "百分之十五" alike."""
    folded = fold_width(text)
    out = [p.replace(" ", "") for p in PERCENT.findall(folded)]
    for m in ZH_PERCENT.finditer(folded):
        value = zh_number(m.group("n"))
        if value is not None:
            out.append(f"{_number_text(value)}%")
    return out


@dataclass
class Facts:
    """What a reply may state. Built by code from the data, never by the model."""

    candidate_ids: list[str]
    catalogue: CatalogueIndex
    user_text: str = ""
    extra_prices: set[float] = field(default_factory=set)  # e.g. a refund amount
    order_ids: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    percents: set[str] = field(default_factory=set)
    prompt_runs: frozenset[str] = frozenset()  # every PROMPT_RUN-word run of our system prompts
    # Products code itself named beside the candidates ("often bought with X, which you
    # bought"): the model may repeat those names, but they are not picks.
    named_ids: frozenset[str] = frozenset()
    allow_promo_words: bool = False


@dataclass
class Verdict:
    ok: bool
    problems: list[str]
    cited_ids: list[str]


@dataclass(frozen=True)
class PriceMention:
    """A price stated in a text: as written ("$1,299.00"), its value and where it starts."""

    text: str
    value: float
    start: int


def prices_in(text: str) -> list[PriceMention]:
    """Every price the text states ("$12.50", "USD 3", "40 dollars", "120元", "¥99",
    "一百二十美元", "１２０元"), in order."""
    folded = fold_width(text)
    found = [
        PriceMention(
            text[m.start() : m.end()],
            float((m.group(1) or m.group(2)).replace(",", "")),
            m.start(),
        )
        for m in PRICE.finditer(folded)
    ]
    taken = [(p.start, p.start + len(p.text)) for p in found]
    for m in ZH_PRICE.finditer(folded):
        if any(m.start() < end and start < m.end() for start, end in taken):
            continue  # "$120元" is one price
        value = zh_number(m.group("a") or m.group("b") or m.group("c") or "")
        if value is not None:
            found.append(PriceMention(text[m.start() : m.end()], value, m.start()))
    return sorted(found, key=lambda p: p.start)


def price_matches(value: float, prices: Iterable[float], tolerance: float = 0.006) -> bool:
    """True when `value` is one of `prices` (to the cent)."""
    return any(abs(value - p) < tolerance for p in prices)


def product_ids_in(text: str) -> list[str]:
    """Product ids written in the text, in order (repeats kept)."""
    return PRODUCT_ID.findall(text)


# A shop's own order numbers ("#1001": imported stores').
SHOP_ORDER_ID = re.compile(r"(?<![\w#])#\d{3,12}\b")


def order_ids_in(text: str) -> list[str]:
    return ORDER_ID.findall(text) + SHOP_ORDER_ID.findall(text)


def dates_in(text: str) -> list[str]:
    """ISO dates (YYYY-MM-DD) in the text; a Chinese date ("2016年11月8日") as one too."""
    folded = fold_width(text)
    out = DATE.findall(folded)
    for m in ZH_DATE.finditer(folded):
        y = m.group("y") or "????"
        out.append(f"{y}-{int(m.group('m')):02d}-{int(m.group('d')):02d}")
    return out


def _date_known(date: str, known: set[str]) -> bool:
    if date.startswith("????"):  # "11月8日": month and day of a known date
        return any(d[4:] == date[4:] for d in known)
    return date in known


def product_names_in(text: str, catalogue: CatalogueIndex) -> set[str]:
    """Ids of catalogue products whose full name appears in the text."""
    low = text.lower()
    found = {p.id for p in catalogue.products if len(p.name) >= 6 and p.name.lower() in low}
    # A name inside a longer found name ("Xerox 188" in "Xerox 1881") is the longer one.
    names = {i: catalogue.get(i).name.lower() for i in found}
    return {i for i in found if not any(i != j and names[i] in names[j] for j in found)}


def products_outside(text: str, catalogue: CatalogueIndex, allowed: Iterable[str]) -> list[str]:
    """Problems for every product the text cites by id, or names, that is not in `allowed` (a
    name shared with an allowed product counts as allowed: the data repeats some names)."""
    ok = set(allowed)
    problems = [
        f"cites product id {pid} that is not a candidate"
        for pid in dict.fromkeys(product_ids_in(text))
        if pid not in ok
    ]
    names = {catalogue.get(i).name.lower() for i in ok if i in catalogue}
    for pid in sorted(product_names_in(text, catalogue)):
        name = catalogue.get(pid).name
        if pid not in ok and name.lower() not in names:
            problems.append(f"names product {name!r} that is not a candidate")
    return problems


def check(text: str, facts: Facts) -> Verdict:
    problems: list[str] = []
    cat = facts.catalogue
    original, text = text, fold_width(text)
    allowed = set(facts.candidate_ids)
    cited: list[str] = []

    for pid in product_ids_in(text):
        if pid not in allowed:
            problems.append(f"cites product id {pid} that is not a candidate")
        elif pid not in cited:
            cited.append(pid)
    by_name = {cat.get(i).name.lower(): i for i in allowed if i in cat}
    for pid in sorted(product_names_in(text, cat)):
        name = cat.get(pid).name.lower()
        if pid in facts.named_ids and pid not in allowed:
            continue
        if pid not in allowed and name not in by_name:  # the data repeats some names
            problems.append(f"names product {cat.get(pid).name!r} that is not a candidate")
        elif by_name.get(name, pid) not in cited:
            cited.append(by_name.get(name, pid))

    cand_brands = {(cat.get(i).brand or "").lower() for i in allowed | facts.named_ids if i in cat}
    user_low = facts.user_text.lower()
    for brand in cat.vocabulary.brands:
        b = brand.lower()
        if (
            b not in cand_brands
            and b not in user_low
            and re.search(rf"(?<!-){_L}{re.escape(b)}{_R}(?!-)", text.lower())
        ):
            problems.append(f"mentions brand {brand!r} that no candidate has")

    prices = {round(cat.get(i).price, 2) for i in allowed if i in cat} | {
        round(p, 2) for p in facts.extra_prices
    }
    user = fold_width(facts.user_text)
    user_numbers = {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", user)}
    user_numbers |= {p.value for p in prices_in(user)}  # "一百元以下" is a budget of 100
    for mention in prices_in(text):
        value = mention.value
        if not price_matches(value, prices) and value not in user_numbers:
            problems.append(f"states price ${value:,.2f} that the data does not hold")

    for pct in percents_in(text):
        if pct not in facts.percents:
            problems.append(f"states a percentage {pct!r} that the data does not hold")
    if not facts.allow_promo_words and PROMO.search(text):
        problems.append("promises a discount or promotion")
    for oid in order_ids_in(text):
        if oid not in facts.order_ids:
            problems.append(f"mentions order {oid} that is not the shopper's order in question")
    for d in dates_in(text):
        if not _date_known(d, facts.dates):
            problems.append(f"states a date {d.replace('????-', '')} that the data does not hold")
    if facts.prompt_runs and word_runs(text) & facts.prompt_runs:
        problems.append("repeats the system prompt")
    if SCAFFOLD.search(text):
        problems.append("echoes the prompt's structure")
    if NARRATION.search(text):
        problems.append("talks about the shopper instead of to them")
    if not original.strip():
        problems.append("empty reply")
    return Verdict(not problems, problems, cited)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in _STOP}


def mentions_any(sentence: str, names: list[str], share: float = 0.6) -> bool:
    """True when the sentence names one of the products (most of its distinctive words)."""
    words = content_words(sentence)
    for name in names:
        key = content_words(name)
        if name.lower() in sentence.lower() or (key and len(key & words) / len(key) >= share):
            return True
    return False


def supported_by(sentence: str, sources: str, share: float = 0.6) -> bool:
    """A cheap faithfulness check: most content words of the sentence occur in the sources."""
    words = content_words(sentence)
    return not words or len(words & content_words(sources)) / len(words) >= share
