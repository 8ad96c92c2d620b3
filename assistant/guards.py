"""Input guards: limits, unicode tricks, prompt-injection and manipulation, PII redaction."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Bidi overrides, zero-width characters and C0/C1 controls (tab and newline are kept).
_INVISIBLE = re.compile(
    r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)


class GuardError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Screened:
    text: str  # normalised
    attack: str | None  # None, or the kind of manipulation detected
    # For a price manipulation next to a real request ("a chair under $200 and 90% off"): the
    # request without the manipulation, which may still be answered; else "".
    remainder: str = ""


def normalise(text: str) -> str:
    """NFKC folds full-width and compatibility forms, so look-alike tricks match the rules."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).split())


_ATTACKS: list[tuple[str, re.Pattern[str]]] = [
    (
        "prompt_extraction",
        re.compile(
            r"(system|hidden|initial|original|developer)\s*(prompt|message|instruction)|"
            r"(reveal|print|show|repeat|output|tell me|what (are|is|were))\b.{0,40}\b"
            r"(your|the)\s+(instructions|prompt|rules|guidelines|configuration)|"
            r"(repeat|print) (everything|all|the text) (above|before)",
            re.I,
        ),
    ),
    (
        "instruction_override",
        re.compile(
            r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules?|prompts?|"
            r"guidelines|polic(y|ies)|restrictions)|"
            r"\byou are (now|no longer)\b|\b(developer|god|admin|debug|jailbreak|dan) mode\b|"
            r"\bact as (an? )?(admin|developer|system|unrestricted)|\bnew instructions?\b|"
            r"\bpretend (you|to be)\b|<\s*/?\s*(system|instructions?)\s*>|\[\s*system\s*\]|"
            r"\b(let'?s|we) play a game\b|\byou are [A-Z]?\w*(bot|gpt|ai)\b|\brole-?play\b|"
            r"\b(your|the|admin|administrator|root|database|system|store'?s?)\s+(password|passwd|"
            r"api[ _-]?keys?|secret keys?|credentials|access tokens?)\b",
            re.I,
        ),
    ),
    (
        "price_manipulation",
        re.compile(
            r"\b(get|have|use|any|got)\b.{0,15}\b(coupons?|promo codes?|vouchers?|discount codes?)\b|"
            r"\b(apply|give|grant|add|honou?r)\b.{0,30}\b(\d{1,3}\s*%|discount|coupon|promo|voucher|"
            r"price match)|\b(set|change|lower|make)\b.{0,20}\bprice\b|\bfor free\b|"
            r"\b(free|\$0(\.00)?) (of charge|order|item)|\bprice (is|should be) \$?\d",
            re.I,
        ),
    ),
    # Chinese forms of the same four kinds (normalise() folds full-width letters and digits).
    (
        "prompt_extraction",
        re.compile(
            r"(系统|隐藏|初始|原始|开发者|内部)\s*(提示词?|指令|消息|设定|prompt)|"
            r"(显示|打印|重复|输出|告诉我|说出|透露|发给我|念出|复述).{0,10}"
            r"(你的|你收到的)?(指令|提示词|提示|规则|设定|配置)|"
            r"(上面|之前|前面)的(全部|所有)?(内容|文字|话)(原样)?(重复|输出|打印)|"
            r"(你的|系统的?)(规则|指令|提示词?|设定|配置).{0,8}(重复|输出|打印|告诉|说出|念|发)|"
            r"(你的|系统的?)(指令|提示词|设定|规则)(是什么|有哪些)",
        ),
    ),
    (
        "instruction_override",
        re.compile(
            r"(忽略|无视|忘记|忘掉|绕过|跳过|不要管|别管).{0,12}(指令|规则|提示|限制|政策|规定|设定)|"
            r"你现在是|你不再是|从现在开始你是|(开发者|管理员|调试|上帝)模式|越狱|"
            r"扮演|假装(你是|成)|角色扮演|新的指令|"
            r"(管理员|数据库|系统|后台|店铺)的?(密码|密钥|口令|令牌)",
        ),
    ),
    (
        "price_manipulation",
        re.compile(
            r"(给我|给|申请|使用|用|有没有|有|发)\s*.{0,6}(优惠券|优惠码|折扣码|代金券|红包)|"
            r"(打|给我打|算我)\s*[一二三四五六七八九\d]\s*折|(免费|白白)(给|送)我|白送|"
            r"0\s*元(买|给|卖|送)|零元购|(把|将).{0,12}价格?(改|调|设|降)(成|为|到)|"
            r"(改|调|降)价(到|成)|价格?(是|应该是|只要)\s*[¥$]?\s*\d+\s*(元|块)?(吧|就行|吗)?[!！]",
        ),
    ),
    (
        "data_exfiltration",
        re.compile(
            r"(其他|别的|所有|全部)的?(顾客|客户|用户|买家|人).{0,10}(订单|邮箱|地址|数据|姓名|电话)|"
            r"(导出|列出|下载|给我).{0,6}(数据库|用户表|客户名单|所有用户)|"
            # "Claire Gute的订单": a named person's orders or address (Latin name, capitalised).
            r"(?:[A-Z][a-z]+(?: [A-Z][a-z]+)?)\s*的(订单|地址|邮箱|电话|购买记录|收货)",
        ),
    ),
    (
        "data_exfiltration",
        re.compile(
            # "What did Emily Phan order?": a named person (case-sensitive), never "you" / "I".
            r"\bwhat (did|has|have) (?-i:[A-Z][a-z]+(?: [A-Z][a-z]+)?) (order|ordered|buy|bought|"
            r"purchase|purchased)\b|"
            r"\b(all|every|other|another)\b.{0,20}\b(customers?|users?|shoppers?)\b.{0,40}"
            r"\b(orders?|emails?|addresses|data|names|phone)|\b(dump|export|list)\b.{0,20}"
            r"\b(database|table|users|customers)\b|\bselect\b.+\bfrom\b|;\s*drop\s+table|"
            # Stacked statements and tautologies (red team: "chairs'; DELETE FROM products; --").
            r";\s*(delete|insert|update|alter|truncate)\s+\w+|\bor\s+1\s*=\s*1\b",
            re.I,
        ),
    ),
]


def screen(text: str, max_chars: int) -> Screened:
    """Check limits and classify manipulation attempts. Raises GuardError on unusable input."""
    if not isinstance(text, str):
        raise GuardError("invalid", "the message must be text")
    if len(text) > max_chars:
        raise GuardError(
            "too_long",
            f"the message is too long ({len(text):,} characters; the limit is {max_chars:,})",
        )
    clean = normalise(text)
    if not clean:
        raise GuardError("empty", "the message is empty")
    folded = clean.translate(_HOMOGLYPHS)  # "Ignоre" with a Cyrillic о reads as "Ignore"
    for kind, pattern in _ATTACKS:
        if pattern.search(folded):
            rest = _without_price_demand(clean) if kind == "price_manipulation" else ""
            return Screened(clean, kind, rest)
    return Screened(clean, None)


# Cyrillic and Greek letters that look like Latin ones (NFKC keeps them apart).
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁһӏАВЕКМНОРСТХІЈЅαοτνκιΑΒΕΗΙΚΜΝΟΡΤΧΥΖ",
    "aeopcyxijsdhlABEKMHOPCTXIJSaotvkiABEHIKMNOPTXYZ",
)
_CLAUSE = re.compile(
    r"\s*(?:[,;.!?，。；！？、]|\b(?:and|but|plus|also|then)\b|再|还有|另外|并且|而且)\s*", re.I
)
_PRICE_DEMANDS = [p for kind, p in _ATTACKS if kind == "price_manipulation"]
_HAN = re.compile(r"[\u4e00-\u9fff]")
_DEMAND_WORDS = re.compile(
    r"\b(\d{1,3}\s*%|off|discount|coupon|promo|voucher|free)\b|打.{0,2}折|优惠|免费|券|白送", re.I
)


def _without_price_demand(text: str) -> str:
    """The clauses of `text` that ask for something other than a price change, or "" when
    nothing is left (or anything left is itself an attack)."""
    kept = [
        c
        for c in _CLAUSE.split(text)
        if c and not any(p.search(c) for p in _PRICE_DEMANDS) and not _DEMAND_WORDS.search(c)
    ]
    rest = " ".join(kept).strip()
    if len(re.findall(r"[A-Za-z]{3,}", rest)) < 2 and len(_HAN.findall(rest)) < 2:
        return ""
    if any(p.search(rest) for _, p in _ATTACKS):
        return ""
    return rest


# PII -------------------------------------------------------------------------------------
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_PHONE = re.compile(
    r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)"
)


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def redact(text: str) -> str:
    """Mask emails, card numbers (Luhn-checked) and phone numbers before logging or sending."""
    text = _EMAIL.sub("[EMAIL]", text)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)

    text = _CARD.sub(card, text)
    return _PHONE.sub("[PHONE]", text)
