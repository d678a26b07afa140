"""Script audit: is a collection script, SMS or letter (Chinese or English) fit to be said or sent?

Every outbound text passes here, so the checker is pure Python, precompiled and fast. It is not a
keyword list: a text is first *normalised* (NFKC full-width → half-width, lower case, tone marks
and invisible characters dropped, look-alike Cyrillic letters folded, spaces and symbols that were
inserted between characters removed — ``抓 你``, ``起*诉``, ``s-u-e``, ``a r r e s t`` — and
traditional characters converted to simplified with OpenCC), keeping for every normalised
character the span of the original it came from, so findings point at the original text. The
rules then match the normalised text with homophones, variant characters and pinyin built into
their vocabulary (``起sù``, ``警查``, ``jc``, ``傻b``, ``cnm``, ``vx``), and each match is judged in
its clause:

- **negation** counts only when it governs the matched words in the same clause
  (``我们不会起诉您``, ``we will never call your employer``); a negation of something else
  (``我不是吓唬你，明天就抓你``, ``不还钱就抓你``, ``we're not bluffing``) or a cancelled one
  (``别以为我们不敢…``, ``don't think we won't…``) does not save the text; a clause that describes
  what impostors do (``如有冒充我司人员要求您转账至个人账户，请报警``) is a warning, not a script;
- **lawful actions**: statements of legal steps (lawsuit, attorney referral, credit reporting,
  garnishment, repossession, field visit, arbitration) pass when the lender really takes that
  step (``lawful_actions``) and are otherwise a *warn*: a threat of action not intended
  (FDCPA 1692e(5); CBA 2026 "exaggerating legal consequences"); a clause that states the
  debtor's rights (``您有权…``, ``you have the right…``) is not a threat;
- **fees** pass when the clause ties them to the agreement (``按合同约定``, ``as provided in your
  agreement``).

Severity (the worst finding is the verdict):

- ``block``: threats of arrest, police or violence; impersonation of police, courts, government
  or regulators (and of an attorney unless the lender refers accounts to attorneys, then
  ``warn``: the speaker may be one); insults and obscenity; disclosure to third parties and
  public posting; contacting or threatening to contact family, colleagues, employer or the
  contact list (爆通讯录); calls announced at a harassing frequency or at night; illegal fees;
  pressure to borrow elsewhere; private payment or messaging channels; fabricated blacklists,
  accusations of crime and invented consequences (children, family liability, deportation).
- ``warn``: legal steps that are not in ``lawful_actions``; vague menace (``后果自负``, ``you'll
  regret it``); a Chinese statement that a debt *may* amount to a crime (hedged: credit-card
  fraud is a crime in China, accusing the debtor of it is not for a collector to decide);
  persistence without a stated harassing frequency (``我们会一直联系您``, ``call you every day``);
  the emergency contact (lawful only when the debtor is unreachable); a field visit not intended.

``to_third_party=True`` (the text goes to someone other than the debtor): any mention of the
debt, arrears, overdue status, collection or an amount is a ``disclosure`` block.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import opencc

CATEGORIES: tuple[str, ...] = (
    "threat",
    "impersonation",
    "false_legal_claim",
    "insult",
    "harassment",
    "disclosure",
    "illegal_fee",
    "borrow_pressure",
    "private_channel",
)
# Legal steps a lender may really take; named in ``lawful_actions`` they are lawful statements.
LAWFUL_ACTIONS: frozenset[str] = frozenset(
    {
        "lawsuit",
        "arbitration",
        "attorney_referral",
        "credit_reporting",
        "garnishment",
        "repossession",
        "home_visit",
    }
)
BLOCK = "block"
WARN = "warn"
PASS = "pass"
_RANK = {PASS: 0, WARN: 1, BLOCK: 2}


@dataclass(frozen=True)
class Finding:
    category: str
    rule: str
    severity: str
    text: str
    start: int
    end: int
    source: str
    message: str
    message_zh: str

    def as_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "rule": self.rule,
            "severity": self.severity,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "source": self.source,
            "message": self.message,
            "message_zh": self.message_zh,
        }


@dataclass(frozen=True)
class ScriptAudit:
    verdict: str
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict, "findings": [f.as_dict() for f in self.findings]}


# --- normalisation ---------------------------------------------------------------------------

# Cyrillic and Greek letters (after lower-casing) that pass for Latin ones ("аrrest", Cyrillic а).
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "і": "i", "ј": "j", "к": "k", "м": "m", "н": "h",
        "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d",
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x",
    }
)  # fmt: skip
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "＇": "'"})


@lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    """One original character as it is matched: NFKC, lower case, no tone marks, no invisibles."""
    folded = unicodedata.normalize("NFKC", char).lower().translate(_CONFUSABLES)
    out = []
    for c in folded.translate(_APOSTROPHES):
        category = unicodedata.category(c)
        if category in ("Cf", "Mn", "Me", "Cc") and c not in "\n\t\r":
            continue
        if "\u00c0" <= c <= "\u024f":  # Latin with diacritics: pinyin tone marks, é, ü
            c = "".join(b for b in unicodedata.normalize("NFKD", c) if not unicodedata.combining(b))
        out.append(c)
    return "".join(out)


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
# Characters inserted to break up words: spaces, symbols, brackets, emoji. Clause punctuation
# (，。！？；,!?;: and line breaks) is not among them: it carries the clause structure.
_NOISE = (
    " \\t\\r\\f\\v*_\\-~·•・.|/\\\\#@^+=<>\"'()\\[\\]{}【】「」『』《》〈〉〔〕…—–"
    "\u2190-\u21ff\u2200-\u22ff\u2500-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
)
_NOISE_RUN = re.compile(f"[{_NOISE}]+")
# Without Chinese characters a lone space matters only between two single letters ("s u e"):
# the other lone spaces, most of an English text's runs, are not even visited.
_NOISE_RUN_LATIN = re.compile(
    f"(?! [^{_NOISE}])[{_NOISE}]+|(?<=(?<![a-z'0-9])[a-z]) (?=[a-z](?![a-z'0-9]))", re.ASCII
)
# Symbols that may be dropped inside a Latin word ("f*ck", "s-u-e", "a_r_r_e_s_t").
_INTRA_WORD = frozenset("*_-~·•|/\\#^+=")
_t2s = opencc.OpenCC("t2s")


@dataclass(frozen=True)
class _Normalised:
    text: str
    starts: tuple[int, ...]  # original start offset of each normalised character
    ends: tuple[int, ...]  # original end offset of each normalised character

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.starts[start], self.ends[end - 1]


def _is_letter(c: str) -> bool:
    return "a" <= c <= "z"


def _single_letter(text: str, i: int) -> bool:
    """Is text[i] a Latin letter standing alone (a spelled-out "a r r e s t")?"""
    return (
        _is_letter(text[i])
        and (i == 0 or not (_is_letter(text[i - 1]) or text[i - 1] in "'0123456789"))
        and (i + 1 == len(text) or not (_is_letter(text[i + 1]) or text[i + 1] in "'0123456789"))
    )


def normalise(original: str) -> _Normalised:
    """The text the rules match, with each character's span in ``original``."""
    if original.isascii():
        text = original.lower().replace("`", "'")
        starts = list(range(len(original)))
        ends = list(range(1, len(original) + 1))
    else:
        folds = list(map(_fold, original))
        text = "".join(folds)
        if len(text) == len(original) and all(map(len, folds)):  # one character each
            starts = list(range(len(original)))
            ends = list(range(1, len(original) + 1))
        else:
            starts, ends = [], []
            for i, folded in enumerate(folds):
                starts.extend([i] * len(folded))
                ends.extend([i + 1] * len(folded))
    # Drop or collapse the noise between characters; a plain space between words stays as it is.
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    has_cjk = bool(_CJK_CHAR.search(text))
    for run in (_NOISE_RUN if has_cjk else _NOISE_RUN_LATIN).finditer(text):
        a, b = run.span()
        chunk = run.group()
        left = text[a - 1] if a else ""
        right = text[b] if b < len(text) else ""
        drop = False
        if left and right:
            if has_cjk and (_CJK_CHAR.match(left) or _CJK_CHAR.match(right)):
                drop = True  # "抓 你", "起*诉", "起 sù"
            elif _is_letter(left) and _is_letter(right):
                # "f*ck", "s-u-e"; "a r r e s t", "f.u.c.k"
                drop = set(chunk) <= _INTRA_WORD or (
                    _single_letter(text, a - 1)
                    and _single_letter(text, b)
                    and (chunk == "." or all(c.isspace() or c in _INTRA_WORD for c in chunk))
                )
        if not drop and (chunk == " " or not any(c.isspace() for c in chunk)):
            continue  # unchanged
        pieces.append(text[last:a])
        new_starts.extend(starts[last:a])
        new_ends.extend(ends[last:a])
        last = b
        if drop:
            continue
        # Keep the symbols, collapse each stretch of whitespace to one space.
        k = a
        while k < b:
            if text[k].isspace():
                j = k
                while j < b and text[j].isspace():
                    j += 1
                pieces.append(" ")
                new_starts.append(starts[k])
                new_ends.append(ends[j - 1])
                k = j
            else:
                pieces.append(text[k])
                new_starts.append(starts[k])
                new_ends.append(ends[k])
                k += 1
    pieces.append(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    text = "".join(pieces)
    if has_cjk:
        simplified = _t2s.convert(text)
        if len(simplified) != len(text):  # a phrase changed length: fall back to characters
            simplified = "".join(_t2s_char(c) for c in text)
        text = simplified
    return _Normalised(text, tuple(new_starts), tuple(new_ends))


@lru_cache(maxsize=8192)
def _t2s_char(c: str) -> str:
    converted = _t2s.convert(c)
    return converted if len(converted) == 1 else c


# --- vocabulary: homophones, variants and pinyin ---------------------------------------------

# Character → (the character and its homophones/variants, its pinyin). ⟨word⟩ in a pattern
# expands to each syllable as any of these, so 起诉, 起述, 起sù, qi su and qisu all match.
_SYLLABLES: dict[str, tuple[str, str | None]] = {
    "起": ("起", "qi"),
    "诉": ("诉述塑溯", "su"),
    "抓": ("抓爪", "zhua"),
    "捕": ("捕补", "bu"),
    "逮": ("逮", "dai"),
    "拘": ("拘居", "ju"),
    "留": ("留流", "liu"),
    "坐": ("坐做座", "zuo"),
    "牢": ("牢劳", "lao"),
    "监": ("监", "jian"),
    "狱": ("狱", "yu"),
    "判": ("判", "pan"),
    "刑": ("刑型", "xing"),
    "警": ("警井", "jing"),
    "察": ("察查擦", "cha"),
    "公": ("公", "gong"),
    "安": ("安", "an"),
    "法": ("法", "fa"),
    "院": ("院", "yuan"),
    "律": ("律绿", "lv"),
    "师": ("师狮", "shi"),
    "犯": ("犯", "fan"),
    "罪": ("罪醉", "zui"),
    "诈": ("诈炸", "zha"),
    "骗": ("骗", "pian"),
    "黑": ("黑", "hei"),
    "名": ("名明", "ming"),
    "单": ("单", "dan"),
    "微": ("微威薇徽围", "wei"),
    "信": ("信芯", "xin"),
    "支": ("支", "zhi"),
    "付": ("付", "fu"),
    "宝": ("宝", "bao"),
    "通": ("通", "tong"),
    "讯": ("讯迅", "xun"),
    "录": ("录", "lu"),
    "上": ("上", "shang"),
    "门": ("门们", "men"),
    "征": ("征", "zheng"),
    "你": ("你您", "ni"),
    "妈": ("妈马玛吗", "ma"),
    "他": ("他她它", "ta"),
}
_WORD = re.compile("⟨([^⟩]+)⟩")
_GAP = re.compile("~(\\d+)")
# A short stretch inside one clause (no clause punctuation), lazily matched.
_GAP_CLASS = "[^。！？!?；;，,\\n]"


def _syllables(word: str) -> str:
    parts = []
    for i, c in enumerate(word):
        chars, pinyin = _SYLLABLES.get(c, (c, None))
        hanzi = f"[{chars}]" if len(chars) > 1 else re.escape(chars)
        if pinyin is None:
            parts.append(hanzi)
            continue
        if i == 0:
            # Not preceded by a letter; written after the first letter, not as a leading \b or
            # lookbehind, so that the regex engine can reject the branch on its first character.
            pinyin = f"{pinyin[0]}(?<![a-z0-9]{pinyin[0]}){pinyin[1:]}"
        after = "(?![a-z])" if i == len(word) - 1 else ""
        parts.append(f"(?:{hanzi}|{pinyin}{after})")
    return " ?".join(parts)


def _compile(pattern: str) -> re.Pattern[str]:
    """⟨词⟩ → homophones and pinyin; ~N → up to N characters of the same clause."""
    pattern = _WORD.sub(lambda m: f"(?:{_syllables(m.group(1))})", pattern)
    pattern = _GAP.sub(lambda m: f"{_GAP_CLASS}{{0,{m.group(1)}}}?", pattern)
    return re.compile(pattern, re.ASCII)


# --- clauses, negation, hedges ---------------------------------------------------------------

_CLAUSE_BREAK = re.compile(
    "[。！？!?；;，,\\n]|\\.(?=\\s|$)|\\b(?:but|however|otherwise|or else)\\b"
    "|但是|可是|不过|然而|否则|要不然|(?<!不)但(?!愿)",
    re.ASCII,
)
# Sentences: what names the agreement or the debtor's rights covers its whole sentence
# ("根据合同约定，……另收违约金").
_SENTENCE_BREAK = re.compile("[。！？!?；;\\n]|\\.(?=\\s|$)")
_NEGATION_ZH = re.compile("不|没|未|别|勿|免|禁止|严禁|杜绝|无需|无须|并非")
_NEGATION_EN = re.compile(
    "(?<![a-z])(?:not|never|no|nor|neither|cannot|without|nobody|none|nothing|prohibited|"
    "prohibits|prohibit|forbidden|illegal|unlawful|refrain)(?![a-z])|n't(?![a-z])",
    re.ASCII,
)
# Words that begin like a negation but negate something else, or nothing.
_PSEUDO_NEGATION = re.compile(
    "不得不|不排除|不仅|不只|不但|不然|不还|不付|不交|不缴|不处理|不配合|不接|不回|不理|不联系|"
    "不放过|不客气|不择手段|不惜|不管|不论|不停|不断|不间断|不分|不怕|不信|不想|不愿|不肯|"
    "不是吓唬|不是开玩笑|不开玩笑|不是闹着玩|不是说着玩|没开玩笑|没跟你开玩笑|不要以为|别以为|"
    "别怪|不要怪|不要后悔|别后悔|不得安宁|不好过|不日|不久|不过|没钱|没有钱|没还|未还|未按|"
    "未能|未及时|未结清|未偿还|未归还|没有还|不到|不了|不少|不良|不足|不利|以免|免得|避免|未来|"
    "别人|别的|不按时|不履行|不及时|没有按时|没有及时|没用|没空|还不上|联系不上|借不上|不行|不够|"
    "不起|"
    "(?:not|n't|never|cannot|no) ?(?:only|choice|other choice|option|hesitat|stop|rest|pay|paid|"
    "payment|make (?:a |the |your |any )?payment|respond|response|contact us|call us|get back|"
    "later than|afraid|kidding|joking|joke|bluffing|playing|going away|go away|"
    "you|make us|excuses|more excuses|resolve|settle|want|escape|think|forget|"
    "let (?:this|you|it) go|see|ignore|answer|pick up|have a choice|way out|wait|be able to hide)"
)
# "别以为我们不敢…", "don't think we won't…": the negation that follows is an assertion.
_CANCEL = re.compile(
    "别以为|不要以为|你以为|别觉得|不要觉得|别指望|不要指望|"
    "(?:don't|do not|never) (?:think|assume|believe|imagine)|if you think",
    re.ASCII,
)
# The clause describes what someone else might do, to warn the debtor ("如有冒充我司人员要求您
# 转账至个人账户，请报警", "scammers may threaten arrest"): nothing in it is said by the collector.
_REPORTED = re.compile(
    "冒充|假冒|谨防|警惕|(?<![a-z])(?:scam|scams|scammers?|impersonat[a-z]*|fraudsters?)(?![a-z])",
    re.ASCII,
)
# Words between a negation and the matched words that end its reach ("不还钱就抓你").
_SCOPE_BREAK = re.compile(
    "就|则|便|那么|的话|然后|我们将|我司将|我们会|我司会|我们要|我们就|"
    "(?<![a-z])(?:then|so|because|unless|if|and we|or we|or you|we will|we'll|we are going|"
    "we're going|you will|you'll|they will|they'll)(?![a-z])",
    re.ASCII,
)
_HEDGE_ZH = re.compile("可能|或将|或许|也许|如果|如|若|一旦|假如")
# The clause states the debtor's rights: a legal word there is information, not a threat.
_RIGHTS = re.compile(
    "您有权|你有权|有权向|您可以向|你可以向|如有异议|投诉|您已委托|你已委托|您委托的|你委托的|"
    "您的律师|你的律师|"
    "(?<![a-z])(?:you (?:have|has) the right|right to dispute|you may (?:dispute|request|contact|"
    "consult|seek|wish)|represented by|your (?:own )?(?:attorney|lawyer))(?![a-z])",
    re.ASCII,
)
# The clause ties the fee to the agreement or the law.
_AGREED = re.compile(
    "合同|协议|约定|依法收取|法律规定|"
    "(?<![a-z])(?:agreement|contract|permitted by (?:law|your)|authori[sz]ed by|"
    "terms and conditions|note you signed)(?![a-z])",
    re.ASCII,
)


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    id: str
    lang: str  # "zh" or "en": which vocabulary, and which source
    category: str
    severity: str
    source: str
    pattern: re.Pattern[str]
    negatable: bool = True
    actions: tuple[str, ...] = ()  # lawful when one of these is in lawful_actions
    unless: re.Pattern[str] | None = None  # the sentence makes it lawful
    hedge_warn: bool = False  # a hedged statement is a warn
    third_party_only: bool = False
    attorney: bool = False  # block, or warn when attorney_referral is lawful


_MESSAGES: dict[str, tuple[str, str]] = {
    "script.threat.arrest": (
        "Threatens arrest, jail or police action over a debt.",
        "以抓捕、坐牢或警方介入相威胁。",
    ),
    "script.threat.violence": (
        "Threatens violence or harm to the debtor, their family or property.",
        "以暴力或伤害债务人及其家人、财产相威胁。",
    ),
    "script.threat.veiled": (
        "Vague menace about consequences; say what lawful step will follow, if any.",
        "含糊的后果恐吓；如有后续合法措施，应如实说明。",
    ),
    "script.impersonation.government": (
        "Claims to be or act for police, a court, government or a regulator.",
        "冒充公安、法院、政府或监管机关。",
    ),
    "script.impersonation.attorney": (
        "Claims to be an attorney or law firm; only a real attorney may say so.",
        "自称律师或律师事务所；只有真实律师才能这样表述。",
    ),
    "script.legal.crime": (
        "Accuses the debtor of a crime or fraud over a civil debt.",
        "指称债务人犯罪或诈骗。",
    ),
    "script.legal.blacklist": (
        "Claims a blacklist that does not exist or that the collector cannot put anyone on.",
        "虚构黑名单。",
    ),
    "script.legal.exaggerated": (
        "Invents consequences the law does not attach to the debt (children, family, job, visa).",
        "夸大或虚构法律后果（子女、家人、工作、身份等）。",
    ),
    "script.legal.lawsuit": (
        "Mentions a lawsuit or court enforcement the lender has not decided on.",
        "提及贷款机构未决定采取的诉讼或强制执行，属于夸大法律后果。",
    ),
    "script.legal.attorney": (
        "Mentions referral to an attorney the lender does not intend.",
        "提及贷款机构并未打算采取的律师介入。",
    ),
    "script.legal.credit_report": (
        "Mentions credit reporting the lender does not do.",
        "提及贷款机构并不进行的征信报送。",
    ),
    "script.legal.garnishment": (
        "Mentions garnishment, seizure or freezing the lender has not decided on.",
        "提及贷款机构未决定采取的扣划、查封或冻结。",
    ),
    "script.legal.repossession": (
        "Mentions repossession the lender has not decided on.",
        "提及贷款机构未决定采取的收车。",
    ),
    "script.insult": (
        "Insulting, obscene or humiliating language.",
        "使用辱骂、侮辱或污秽语言。",
    ),
    "script.harassment.repeated_calls": (
        "Announces calls at a harassing frequency or at night.",
        "声称高频或深夜拨打电话，构成骚扰。",
    ),
    "script.harassment.persistent": (
        "Announces persistent contact; contact must stay within the frequency limits.",
        "声称持续联系；联系频次须在规定限度内。",
    ),
    "script.harassment.third_party_contact": (
        "Threatens to contact family, colleagues, employer or the contact list.",
        "声称联系家人、同事、单位或通讯录联系人（爆通讯录）。",
    ),
    "script.harassment.emergency_contact": (
        "Mentions the emergency contact; allowed only when the debtor is unreachable.",
        "提及紧急联系人；仅在无法联系债务人本人时方可联系。",
    ),
    "script.harassment.visit": (
        "Threatens a workplace visit or a crowd at the door.",
        "声称到单位或带人上门、堵门。",
    ),
    "script.harassment.home_visit": (
        "Announces a field visit the lender has not arranged.",
        "声称安排上门，但贷款机构并未安排外访。",
    ),
    "script.disclosure.tell": (
        "Threatens to tell third parties about the debt.",
        "声称向第三人透露债务信息。",
    ),
    "script.disclosure.public": (
        "Threatens to publish the debt or shame the debtor in public or online.",
        "声称公开张贴、网络曝光债务信息。",
    ),
    "script.disclosure.third_party": (
        "A message to a third party mentions the debt.",
        "发给第三人的信息提及了债务。",
    ),
    "script.illegal_fee": (
        "Asks for a fee or penalty the agreement does not provide for.",
        "以催收名义收取合同未约定的费用或罚款。",
    ),
    "script.borrow_pressure": (
        "Pushes the debtor to borrow elsewhere or sell belongings to repay.",
        "诱导或迫使债务人借新还旧、变卖财物还款。",
    ),
    "script.private_channel.payment": (
        "Asks for payment into a personal account, app or card instead of the lender's channel.",
        "要求向个人账户、个人收款码或个人卡还款，而非指定还款渠道。",
    ),
    "script.private_channel.contact": (
        "Moves the conversation to a private phone or social app.",
        "要求通过私人电话或私人社交软件联系。",
    ),
}

# Recurring Chinese vocabulary.
_POLICE = "(?:⟨警察⟩|\\bjc(?![a-z])|⟨公安⟩|民警|派出所|经侦|刑警|特警|法警|公检法|执法人员|警方)"
# People around the debtor; places only as "your …" (告知我公司 is the lender's own company).
_PEOPLE_ZH = (
    "(?:通讯录|⟨通讯录⟩|\\btxl(?![a-z])|(?<!紧急)(?<!预留)联系人|亲戚|亲友|亲属|家人|"
    "家里人|全家|父母|爸妈|爸爸|妈妈|子女|孩子|儿子|女儿|朋友|好友|同事|领导|上司|老板|邻居|"
    "同学|老师|(?:你|您)(?:的|们)?(?:工作)?(?:单位|公司|人事|hr|村委会|居委会|学校))"
)
_PEOPLE_EN = (
    "(?:employer|boss|supervisor|manager|hr|human resources|work(?:place)?|office|job|"
    "co-?workers?|colleagues?|family|relatives?|parents?|mother|father|mom|dad|mum|sisters?|"
    "brothers?|children|kids|sons?|daughters?|friends?|neighbou?rs?|references?|contacts?|"
    "contact list|phone ?book|church|pastor|school|landlord|everyone|everybody|whole family)"
)
# The debtor, not the collector, is the one who would do it ("您可以先联系家人商量").
_DEBTOR_ACTS = re.compile(
    "您可以|你可以|建议您|您可|\\b(?:you may|you can|you might|you could|you should|"
    "you may also|if you want to)(?![a-z])",
    re.ASCII,
)

# One entry per rule: its Chinese and English patterns and the knowledge-base source of each.
_RULES_SPEC: list[dict[str, object]] = [
    # threats ------------------------------------------------------------------------------
    {
        "rule": "script.threat.arrest",
        "category": "threat",
        "zh": (
            "⟨抓⟩ ?(?:⟨你⟩|人|走|了你|⟨捕⟩|起来|进去|去坐)|⟨逮捕⟩|⟨拘留⟩|拘捕|刑拘|拘押|羁押|"
            "⟨坐牢⟩|蹲~2(?:⟨牢⟩|⟨监狱⟩|局子|号子)|(?:进|关进|送进|送你进)(?:⟨监狱⟩|看守所|拘留所|"
            "局子|号子|牢房)|看守所|牢饭|⟨判刑⟩|判你|坐几年|蹲几年|⟨监狱⟩|通缉|立案侦查|手铐|"
            "限制~4人身自由|等着~2进去|"
            + _POLICE
            + "~8(?:上门|来找|找你|来抓|⟨抓⟩|带走|带你|铐|传唤|介入|"
            "处理你|去你家|到你家|来你家|到你单位|在路上|找上门|来人|会来|掌握|调查你|盯上|"
            "找到你)|(?:会|将|要|已经?|就|我们|我司|"
            "公司)(?:去)?(?:报警|报案)|报警(?:处理|抓)|(?:移交|移送|交给|交由)~3(?:⟨公安⟩|⟨警察⟩|"
            "经侦|司法机关|检察院)"
        ),
        "en": (
            # Police, sheriffs, marshals have no part in collecting a debt: naming them threatens.
            "\\b(?:arrest(?:ed|ing)?|jail(?:ed)?|prison|imprison(?:ed|ment)?|lock(?:ed)? you up|"
            "locked up|handcuff(?:s|ed)?|behind bars|warrant|police|cops|sheriff(?:'s)?|"
            "marshals?)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.threat.violence",
        "category": "threat",
        "zh": (
            "弄死|整死|搞死|打死你|杀了你|杀你|宰了你|砍(?:死|你|人)|捅(?:死|你)|"
            "打断~3(?:腿|手)|卸你|废了你|揍你|打你(?!的?(?:电话|手机|座机|号码))|"
            "(?:找人|派人|叫人|带人)~4(?:收拾|教训|打|揍|弄|砍|堵|找你麻烦)|收拾你|教训你|让你好看|"
            "给你点颜色|走着瞧|你等着|等着瞧|(?:小心|当心)(?:点|你的|你家|你全家|家人|孩子|出门|"
            "你的安全)|走夜路~3小心|(?:家人|孩子|老婆|父母)的?(?:安全|出事)|知道你(?:住在?哪|"
            "家在哪|家住|孩子在哪|在哪上班)|(?:孩子|小孩|家人)在哪~8知道|(?:泼|喷)(?:油漆|红漆|粪)|"
            "(?:堵|砸)(?:你家|你的?门|门)|(?:让|叫)你~4(?:不得安宁|混不下去|生不如死|活不下去|"
            "吃不了兜着走)|不得安宁|不会放过你|别怪我们?不客气|对你不客气|黑社会|血光之灾|"
            "死路一条|断手断脚|(?:有人|找人|派人|叫人)~2(?:去|到|上|来)(?:你|您)家|(?:有|没)你好果子吃|"
            "有你好看|有你受的|够你受的|跑不掉|逃不掉|跑不了|逃不了|有的是办法|天涯海角|"
            "裸照|艳照|不雅照|私密照|我们的人(?![员工])~6(?:到|在|去|找)|打听你"
        ),
        "en": (
            "\\b(?:kill you|hurt you|beat you|break your (?:legs?|arms?|neck|face)|"
            "watch your back|we know where you (?:live|work)|where your (?:kids|children) go|"
            "something (?:bad )?(?:might|could|will|may) happen to|teach you a lesson|"
            "burn (?:down )?your|make your life (?:a living hell|hell|miserable)|"
            "you'll be sorry|you will be sorry|pay you a visit you won't|"
            "come over and (?:beat|hurt|get)|(?:send|have) (?:some|a few|our) (?:guys|men|boys)|"
            "(?:guys|boys|men|goons|muscle)(?: [a-z']+){0,2} (?:to|over to|by|at) your (?:place|"
            "house|home|door|work)|come (?:and )?(?:find|get) you|come looking for you|"
            "hunt you down|track you down|we(?:'ll| will) find you|nude|intimate (?:photos|"
            "pictures|images))\\b"
        ),
        "zh_source": "cn.criminal_law.art293_1",
        "en_source": "us.regf.1006.14.c",
    },
    {
        "rule": "script.threat.veiled",
        "category": "threat",
        "severity": WARN,
        "zh": "后果~4(?:自负|承担|负责)|后果(?:很|非常|十分|会很)?严重|好自为之|自己看着办",
        "en": (
            "\\b(?:you'll regret|you will regret|serious consequences|or else|"
            "you have been warned|you've been warned|last warning|final warning)\\b"
        ),
        "zh_source": "cn.nifa2018.art16",
        "en_source": "us.fdcpa.1692d",
    },
    # impersonation -------------------------------------------------------------------------
    {
        "rule": "script.impersonation.government",
        "category": "impersonation",
        "zh": (
            "(?:我是|我们是|这里是|这边是|本人是|我这边是|我们这边是|我代表|我们代表|我们来自|"
            "我来自)~10(?:⟨法院⟩|检察院|⟨公安⟩|派出所|⟨警察⟩|警官|民警|经侦|网警|刑警|执行局|"
            "司法(?:局|机关|部门|所)|政府|公检法|监管(?:部门|局)|金融监管|银保监|证监|人民银行|"
            "税务局|法官|书记员|检察官|国家机关|行政机关)"
        ),
        "en": (
            "\\b(?:(?:this is|i am|i'm|my name is) (?:officer|detective|deputy|sergeant|"
            "(?:special )?agent|investigator|marshal|judge|inspector|trooper)|"
            "(?:this is|i am|i'm|we are|we're|calling from|call from|calling on behalf of|"
            "message from|writing from|with|of) (?:the |a )?(?:[a-z]+ ){0,3}(?:police|sheriff's "
            "office|sheriff's department|sheriff|court|department of justice|doj|fbi|irs|"
            "federal bureau|government|marshals? service|attorney general|district attorney|"
            "law enforcement|federal investigator|fraud (?:unit|division|investigations?)|"
            "(?:federal|state|government) (?:agency|agent|officer|official)|"
            "financial crimes? (?:unit|division))|"
            "(?:i'm|i am|this is) (?:a |the )?process server)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.impersonation.attorney",
        "category": "impersonation",
        "attorney": True,
        "zh": (
            "(?:我是|我们是|这里是|这边是|本人是|我这边是|我们这边是)~12(?:⟨律师⟩|律所|"
            "律师事务所)|本律师"
        ),
        "en": (
            "\\b(?:(?:this is|i am|i'm|my name is) (?:an |a |your |the )?(?:attorney|lawyer|"
            "counsel)|(?:from|with|of) (?:the )?law (?:office|offices|firm|group)|"
            "(?:this is|we are|we're) (?:[a-z&]+ ){0,3}(?:law firm|attorneys at law|law office))\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    # false legal claims --------------------------------------------------------------------
    {
        "rule": "script.legal.crime",
        "category": "false_legal_claim",
        "hedge_warn": True,
        "zh": (
            "(?:你|您|这|属于|已经?|构成|涉嫌|就是|是)~3(?:⟨诈骗⟩|骗贷|恶意透支|⟨犯罪⟩|违法犯罪|"
            "盗窃|偷窃|非法占有)|刑事(?:责任|案件|立案|追诉|犯罪)|⟨诈骗⟩罪"
        ),
        "en": (
            "\\b(?:you (?:have )?(?:committed|are committing|commit) (?:a |an )?(?:crime|fraud|"
            "felony|theft|criminal)|(?:is|was|constitutes|amounts to|counts as|would be|could "
            "be|be) (?:considered )?(?:a |an )?(?:fraud|theft|stealing|a crime|crime|criminal|"
            "felony|check fraud)|criminal (?:charges?|case|complaint|matter|offen[cs]e|"
            "investigation|prosecution|record)|(?:press|file|bring) (?:criminal )?charges|"
            "prosecut(?:e|ed|ion)|check fraud|theft of services)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.legal.blacklist",
        "category": "false_legal_claim",
        "zh": "⟨黑名单⟩|\\bhmd(?![a-z])|失信(?:名单|系统|人员库)|黑户",
        "en": (
            "\\b(?:black ?list(?:ed)?|(?:national|federal|state) (?:debtor|deadbeat|"
            "non-?payer)s? (?:list|registry|database)|(?:debtor|deadbeat)s? (?:list|registry))\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.legal.exaggerated",
        "category": "false_legal_claim",
        "zh": (
            "(?:影响|连累|牵连|殃及)~6(?:子女|孩子|小孩|下一代|后代)|(?:子女|孩子)~6(?:前途|上不了学|"
            "不能上学|考不了|当不了兵|不能考公|政审|入学|考公|参军)|父债子还|株连|连坐|"
            "(?:全家|家人|父母|子女|孩子|亲属)~4(?:承担|偿还|替你还|连带|负责还)|开除你|丢工作|"
            "被辞退|(?:影响|取消)~4(?:户口|社保|低保)|(?:一辈子|这辈子)~3完|毁了你"
        ),
        "en": (
            "\\b(?:(?:your )?(?:children|kids|family|parents|relatives)(?: [a-z']+){0,3} (?:pay|"
            "paying|be (?:responsible|liable)|inherit)|"
            "(?:lose|losing) your (?:job|license|children|kids|citizenship|visa|green card)|"
            "(?:get|have) you (?:fired|deported)|deport(?:ed|ation)?|"
            "(?:report|call|notify|contact) (?:you to )?immigration|(?:you will|you'll) be fired|"
            "ruin your (?:life|career|reputation))\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.regf.1006.18",
    },
    {
        "rule": "script.legal.lawsuit",
        "category": "false_legal_claim",
        "severity": WARN,
        "actions": ("lawsuit", "arbitration"),
        "unless": _RIGHTS,
        "zh": (
            "⟨起诉⟩|诉讼|告你|告到|法院见|上法院|(?:走|启动|进入|采取|通过)~2(?:法律|司法)(?:程序|"
            "途径|手段)|法律(?:程序|途径|手段)|司法程序|法律(?:责任|后果)|立案|传票|开庭|"
            "⟨法院⟩|强制执行|执行局|限制高消费|限高|失信被执行人|坐不了~2(?:飞机|高铁)|仲裁"
        ),
        "en": (
            "\\b(?:su(?:e|ed|ing)|lawsuits?|legal (?:action|proceedings|process|steps|measures)|"
            "court (?:action|proceedings|date|case|order|summons)|take you to court|"
            "(?:file|filing|filed|bring|initiate|commence) (?:a )?(?:suit|claim|complaint|case|"
            "action)|in court|small claims|summons|judgment|litigation|arbitration|"
            "legal consequences)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.legal.attorney",
        "category": "false_legal_claim",
        "severity": WARN,
        "actions": ("attorney_referral",),
        "unless": _RIGHTS,
        "zh": (
            "(?:委托|移交|转交|交由|交给|提交)~4(?:⟨律师⟩|律所|律师事务所|法务)|⟨律师⟩函|"
            "⟨律师⟩(?:会|将|已经?)~4(?:联系|介入|处理|起诉|上门|发函)|律所介入|"
            "法务(?:部|部门)?(?:介入|处理)"
        ),
        "en": (
            "\\b(?:(?:refer|referred|referring|forward|forwarded|forwarding|send|sent|sending|"
            "turn(?:ed)? over|hand(?:ed)? over|assign(?:ed)?|transfer(?:red)?|pass(?:ed)?|"
            "place(?:d)?|go|goes|going|escalate[sd]?)(?: [a-z]+){0,4} to (?:our|an|the|a|my) "
            "(?:[a-z]+ )?(?:attorney|lawyer|law firm|"
            "legal (?:department|team|counsel)|counsel)s?|(?:our|the) (?:attorney|lawyer|"
            "legal (?:department|team))s? (?:will|may|are|is|plan|intend)|attorney review|"
            "lawyer letter|letter from (?:our|an) (?:attorney|lawyer))\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.legal.credit_report",
        "category": "false_legal_claim",
        "severity": WARN,
        "actions": ("credit_reporting",),
        "unless": _RIGHTS,
        "zh": "⟨征信⟩|\\bzhengxin(?![a-z])|信用(?:记录|报告|评分|档案)|个人信用|百行|人行",
        "en": (
            "\\b(?:credit (?:bureaus?|reports?|reporting|score|history|file|record|rating)|"
            "equifax|experian|transunion|(?:hurt|damage|harm|ruin|destroy|affect|impact|lower|"
            "tank) your credit)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.legal.garnishment",
        "category": "false_legal_claim",
        "severity": WARN,
        "actions": ("garnishment", "lawsuit"),
        "unless": _RIGHTS,
        "zh": "冻结|查封|扣押|拍卖(?:你的?)?(?:房|车|财产)|扣~3工资|划扣你",
        "en": (
            "\\b(?:garnish(?:ment|ed|ing)?|(?:levy|freeze|frozen|seize|attach|take|drain)"
            "(?: [a-z]+){0,3} (?:wages?|paycheck|salary|bank account|account|property|assets|"
            "house|home)|(?:account|wages?) (?:will be |gets )?frozen|lien)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    {
        "rule": "script.legal.repossession",
        "category": "false_legal_claim",
        "severity": WARN,
        "actions": ("repossession",),
        "zh": "收车|拖车|扣车|收回(?:你的?)?车",
        "en": (
            "\\b(?:reposs(?:ess|esses|essed|essing|ession)|tow (?:away )?(?:your|the) (?:car|"
            "vehicle|truck)|take (?:back )?your (?:car|vehicle|truck))\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692e",
    },
    # insults -------------------------------------------------------------------------------
    {
        "rule": "script.insult",
        "category": "insult",
        "negatable": False,
        "zh": (
            "傻[逼比笔屄叉xb缺]|煞[笔比逼]|沙比(?![例较率赛])|\\bsha ?(?:bi|比|逼)|"
            "\\b(?:sb|2b|w?cnm|nmsl|nmb|tmd|mlgb|nmd|rnm)(?![a-z])|二逼|二b|"
            "(?:草|操|艹|曹|肏|\\bcao ?)(?:你|尼|泥|ni ?)(?:妈|马|玛|嘛|ma(?![a-z]))|"
            "草泥马|⟨你妈⟩(?:死|的|逼|b|个|了个)|尼玛|你(?:妈|母)(?:死了|没了)|"
            "⟨他妈⟩(?:的|逼)|\\btm的|特么|妈的|妈逼|妈b|(?:麻|妈|马)(?:痹|批|币)(?!大意)|"
            "马勒戈壁|狗日|狗东西|狗杂种|杂种|畜[生牲]|王八(?:蛋|羔子)|混蛋|混账东西|"
            "贱(?:人|货|种|骨头)|婊子|滚蛋|滚犊子|给我滚|去死|死全家|全家死|全家都死|不得好死|"
            "断子绝孙|人渣|败类|废物|窝囊废|白痴|弱智|智障|脑残|蠢货|蠢猪|老赖|无赖|穷鬼|"
            "不要脸|猪狗不如|白眼狼|孬种|脑子有病|有病吧|神经病|精神病|活着有什么意思|活着干嘛|"
            "怎么不去死|还有脸活|还是人吗|是不是人|不是人(?![工员们士])|算什么东西|"
            "(?:你|你这|你个|你这个|你就是个?)(?:垃圾|骗子|猪|狗|乞丐)|没教养|丢人现眼|下贱|屌丝"
        ),
        "en": (
            # Strong words match inside a run of spelled-out letters too ("u r a d e a d b e a t").
            "(?:fuck|deadbeat|bitch|asshole|idiot|scumbag|motherf|bastard)[a-z]*\\b|"
            "\\b(?:f+u*c*k+(?:ing|in|er|ers|ed|s)?|fcking|fkn|fuk|f u c k|stfu|wtf|motherf[a-z]*|"
            "sh[i1!]?t+(?:ty|head|s)?|bullsh[a-z]*|b[i1!]?tch(?:es|y)?|bastards?|"
            "a(?:ss|\\$\\$|\\*\\*)h[o0]les?|jackass|dumbass|[i1]di[o0]ts?|morons?|stupid|dumb|"
            "imbeciles?|losers?|deadbeats?|scum(?:bag)?s?|liars?|thie(?:f|ves)|crooks?|cunts?|"
            "dickheads?|jerks?|twits?|nitwits?|dimwits?|halfwits?|brainless|lowlifes?|worthless|"
            "pathetic|retard(?:ed|s)?|piece of (?:shit|sht|"
            "crap|garbage|trash)|son of a|hell|damn(?:ed|it)?|goddamn|crap|freeloaders?|leech|"
            "parasites?|you(?:'re| are) (?:a |an |such a )?(?:disgrace|joke|trash|garbage|pig|"
            "animal|nobody|failure|bum)|cheat(?:er|ers|s)?|shame on you|"
            "(?:should|ought to) be ashamed)\\b"
        ),
        "zh_source": "cn.nifa2018.art16",
        "en_source": "us.regf.1006.14.d",
    },
    # harassment ----------------------------------------------------------------------------
    {
        "rule": "script.harassment.repeated_calls",
        "category": "harassment",
        "zh": (
            "(?:每小时|每隔~4(?:分钟|小时)|每\\d+分钟|24小时|二十四小时|全天|日夜|轮番|不停|不断|"
            "疯狂|连环|无限|循环|夺命)~6(?:打|拨|call|呼|轰炸|骚扰|联系|发短信|发信息|致电)|"
            "(?:打爆|轰炸|呼死|爆)~3(?:你的?)?(?:电话|手机|号码)|(?:电话|短信)轰炸|呼死你|"
            "(?:半夜|深夜|凌晨|夜里|午夜)~6(?:打|拨|call|联系|找你|上门|电话)"
        ),
        "en": (
            "\\b(?:(?:call|calling|text|texting|ring|ringing|phone|email|message|contact|bother|"
            "hound)(?:ing|s)?(?: [a-z']+){0,3} (?:every (?:hour|\\d+ minutes|few minutes|half "
            "hour)|all day|all night|day and night|night and day|non-?stop|around the clock|"
            "24/7|constantly|over and over|again and again|until you (?:pick up|answer|break|"
            "give in)|in the middle of the night|at midnight|at \\d+ ?am)|(?:\\d+|ten|twenty|"
            "thirty|fifty|a hundred|hundreds? of|dozens of) (?:calls|texts|messages|times) (?:a|"
            "per|an|each) (?:day|hour)|blow up your phone|"
            "flood your phone|won't stop calling|will not stop calling|never stop calling|"
            "keep (?:on )?(?:calling|ringing|phoning|texting)(?: [a-z']+){0,3} (?:until|till|every|"
            "all day|day and))\\b"
        ),
        "zh_source": "cn.criminal_law.art293_1",
        "en_source": "us.fdcpa.1692d",
    },
    {
        "rule": "script.harassment.persistent",
        "category": "harassment",
        "severity": WARN,
        "zh": (
            "(?:每天|天天|每日|一直|持续|反复)~6(?:打电话|打给|给你打|给您打|联系(?!不)|致电|call|"
            "拨打)|"
            "直到~4(?:还|还款|还钱|还清)为止"
        ),
        "en": (
            "\\b(?:(?:call|calling|text|texting|contact|contacting)(?: [a-z']+){0,3} (?:every "
            "day|daily|every morning|every night)|keep (?:on )?(?:contacting|calling|texting|"
            "emailing|reaching out)|continue to (?:call|contact|text) you until)\\b"
        ),
        "zh_source": "cn.criminal_law.art293_1",
        "en_source": "us.fdcpa.1692d",
    },
    {
        "rule": "script.harassment.third_party_contact",
        "category": "harassment",
        "zh": (
            "(?:打电话|打给|打到|call|联系|致电|去找|找到|发短信|发信息|拨打|挨个打)~4(?:给)?"
            "(?:你|您)?的?(?:所有|全部|每一个)?~2"
            + _PEOPLE_ZH
            + "|(?:给|找|去找)(?:你|您)?的?~4"
            + _PEOPLE_ZH
            + "~3(?:打电话|打|联系|说)|打(?:你|您)的?"
            + _PEOPLE_ZH
            + "~2电话|找(?:你|您)的?~2"
            + _PEOPLE_ZH
            + "|爆~2(?:通讯录|⟨通讯录⟩|\\btxl(?![a-z])"
            "|联系人)|通讯录~8(?:群发|每个人|所有人|挨个|逐个|导出)|(?:挨个|逐个|一个一个)~4"
            "(?:打|联系)"
        ),
        "en": (
            "\\b(?:(?:call|calling|called|contact|contacting|text|texting|email|emailing|message|"
            "messaging|reach out to|reaching out to|visit|visiting|phone|ring|go to|show up at|"
            "talk to|speak to|speak with)(?: [a-z']+){0,2} (?:your|ur|all your|everyone in your|"
            "everybody in your|all of your) (?:[a-z']+ ){0,2}" + _PEOPLE_EN + "|your (?:[a-z']+ )"
            "{0,2}" + _PEOPLE_EN + "(?: [a-z']+){0,3} (?:will )?(?:be )?hear(?:s|ing)? from us|"
            "(?:everyone|"
            "everybody|all the people) (?:in|on) your (?:contact|phone|address))"
        )
        + "\\b",
        "unless": _DEBTOR_ACTS,
        "zh_source": "cn.cba2026.third_party",
        "en_source": "us.fdcpa.1692c.b",
    },
    {
        "rule": "script.harassment.emergency_contact",
        "category": "harassment",
        "severity": WARN,
        "zh": "(?:联系|打给|致电|找|打电话给)~6(?:紧急|预留的?)联系人",
        "en": "\\b(?:call|contact|reach out to) (?:your )?emergency contacts?\\b",
        "zh_source": "cn.cba2026.third_party",
        "en_source": "us.fdcpa.1692c.b",
    },
    {
        "rule": "script.harassment.visit",
        "category": "harassment",
        "zh": (
            "(?:到|去|来|上)(?:你|您)的?(?:单位|公司|工作单位|上班的地方|办公室|工作的地方|学校)"
            "(?![账帐])|"
            "(?:天天|每天|带人|派人|找人|一群人|组团|多人)~4上⟨门⟩|上⟨门⟩~4(?:闹|堵|蹲|要账|讨债|"
            "找你麻烦|泼)|(?:堵|蹲)(?:你家|你门口|门口)"
        ),
        "en": (
            "\\b(?:(?:show up|come|go|stop by|turn up) (?:at|to) your (?:work|workplace|office|"
            "job|employer|school)|(?:wait|waiting|camp(?:ing)? out) (?:for you )?(?:at|outside) "
            "your)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692d",
    },
    {
        "rule": "script.harassment.home_visit",
        "category": "harassment",
        "severity": WARN,
        "actions": ("home_visit",),
        "zh": "上⟨门⟩|外访|登门|家访|(?:到|去|来)(?:你|您)(?:家|住处|住所|老家)",
        "en": (
            "\\b(?:(?:visit|come to|show up at|stop by|knock on)(?: [a-z']+){0,2} your "
            "(?:home|house|door|residence|place)|send (?:someone|an agent|a field agent|people|a "
            "representative|our agents?|a collector) (?:to|out to|over to|by) your|field (?:agent|"
            "visit|collector)s?|home visit)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692d",
    },
    # disclosure ----------------------------------------------------------------------------
    {
        "rule": "script.disclosure.tell",
        "category": "disclosure",
        "zh": (
            "(?:告诉|告知|通知|通报|转告|透露|说给|发给|发到|发送给|群发给?)~8(?:你|您)?的?~3"
            "(?:所有|全部)?~2"
            + _PEOPLE_ZH
            + "(?:~8(?:欠|逾期|债|借|老赖|不还|知道))?|让~8"
            + _PEOPLE_ZH
            + "~4(?:知道|了解|看看|评评理)"
        ),
        "en": (
            "\\b(?:(?:tell|telling|inform|informing|notify|notifying|let|letting|warn|warning|"
            "alert|alerting)(?: [a-z']+){0,2} (?:your|ur|all your|everyone|everybody) (?:[a-z']+ )"
            "{0,2}" + _PEOPLE_EN + "|(?:everyone|everybody|the whole (?:town|neighbou?rhood|world)"
            "|your " + _PEOPLE_EN + ")(?: [a-z']+){0,3} (?:(?:will|is going to|are going to) "
            "(?:know|hear|see|find out|learn)|(?:knows|hears|sees|finds out|learns)))\\b"
        ),
        "zh_source": "cn.nifa2018.art18",
        "en_source": "us.fdcpa.1692c.b",
    },
    {
        "rule": "script.disclosure.public",
        "category": "disclosure",
        "zh": (
            "曝光|挂网|挂到网上|(?:挂|发|贴|公布|公开|张贴)~6(?:网上|朋友圈|微博|抖音|群里|小区|"
            "村口|单位|门口|公告栏|大字报|公告|楼下|楼道|电梯|小区)|大字报|海报|悬赏|人肉"
        ),
        "en": (
            "\\b(?:(?:post|posting|publish|publishing|share|sharing|put|putting|expose|exposing|"
            "broadcast|advertise)(?: [a-z'$]+){0,5} (?:on|in|to) (?:facebook|social media|"
            "twitter|instagram|tiktok|online|the internet|the web|(?:the |a |our )?(?:[a-z']+ )?"
            "(?:newspaper|radio|tv|television|billboard)|public|your neighbou?rhood|"
            "(?:a |our )?(?:[a-z']+ )?list)|publicly shame|"
            "shame you (?:publicly|online|in public)|publish your name)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.regf.1006.22",
    },
    {
        "rule": "script.disclosure.third_party",
        "category": "disclosure",
        "third_party_only": True,
        "negatable": False,
        "zh": (
            "欠款|欠钱|欠债|欠费|欠了|欠我|拖欠|所欠|尚欠|债务|负债|逾期|未还|没还|还款|还钱|还清|"
            "催收|催款|讨债|要债|贷款|借款|借了|网贷|账单|违约|老赖|\\d+(?:\\.\\d+)?(?:元|块|万)"
        ),
        "en": (
            "\\b(?:debts?|owe[sd]?|owing|overdue|past[- ]?due|delinquen[a-z]*|arrears|"
            "outstanding|balance|collections?|collector|loan|payments?|repay[a-z]*|default(?:ed)?|"
            "unpaid|bill)\\b|\\$ ?\\d"
        ),
        "zh_source": "cn.cba2026.third_party",
        "en_source": "us.fdcpa.1692b",
    },
    # fees ----------------------------------------------------------------------------------
    {
        "rule": "script.illegal_fee",
        "category": "illegal_fee",
        "unless": _AGREED,
        "zh": (
            "催收(?:费|服务费|手续费|佣金)|(?:上门|外访|差旅|处理|加急|办案|诉讼|律师|逾期管理|"
            "服务|手续|评估|审核|解冻|工本|咨询|代办)费|保证金|交~6费(?:用)?才能|(?:加收|额外收取|额外支付|另收|另外收|加上|附加|追加|多收)~6(?:费|罚金|"
            "罚款|违约金|滞纳金)|罚款|罚金|(?:滞纳金|违约金)~4(?:翻倍|加倍|\\d+倍)"
        ),
        "en": (
            "\\b(?:collection (?:fees?|charges?|costs?)|(?:processing|convenience|service|"
            "handling|administrative|admin|recovery|legal|attorney'?s?|court|field visit) "
            "(?:fees?|charges?|costs?)|(?:add|adding|added|charge|charging|impose|imposing|tack "
            "on|assess|assessing)(?: [a-z$0-9.,']+){0,4} (?:fees?|charges?|penalty|penalties|"
            "surcharge)|(?:extra|additional) (?:fees?|charges?|penalty|penalties)|surcharge|"
            "penalt(?:y|ies))\\b"
        ),
        "zh_source": "cn.nifa2018.art19",
        "en_source": "us.fdcpa.1692f",
    },
    # borrowing -----------------------------------------------------------------------------
    {
        "rule": "script.borrow_pressure",
        "category": "borrow_pressure",
        "zh": (
            "借新还旧|以贷养贷|拆东墙补西墙|(?:去|找|向|跟|从)~2(?:亲戚|亲友|朋友|家人|父母|同事|"
            "别人|他人|其他|别的|网贷|平台|银行|贷款公司|小贷|高利贷|信用卡)~6(?:借|贷|拆借|周转|"
            "凑|套现)|(?:借|贷|套现)(?:点|些|一笔|笔)?钱?(?:来|去)还|(?:借|贷)(?:点|些|一笔|笔)?"
            "钱?(?:还上|还清|填上)|借一笔|(?:其他|别的|另外的?|其它)~2(?:平台|网贷|app|贷款|"
            "银行|口子)~6(?:借|贷|下款|套)|刷~4信用卡~4还|信用卡套现|套现~4还|"
            "卖(?:房|车|肾|血)|借~4高利贷|撸口子|(?:借呗|花呗|白条|微粒贷|金条|网贷|信用卡)~6"
            "(?:借|套|刷|贷)"
        ),
        "en": (
            "\\b(?:take out (?:another|a new|a second|a payday|a personal|a title|a) loan|"
            "(?:borrow|borrowing)(?: [a-z']+){0,3} (?:from|off) (?:your |a |an )?(?:friends?|"
            "family|relatives?|parents?|another (?:lender|bank|company)|someone|payday|anyone|"
            "401k|retirement)|(?:payday|title|pawn) (?:loan|lender|shop|advance)s?|cash advance|"
            "(?:open|get|apply for) (?:a )?(?:new|another) credit card|max out|"
            "(?:sell|pawn)(?: your)? (?:car|house|jewelry|belongings|furniture|blood|plasma|"
            "organs?|kidney)|borrow (?:the |some )?money|lend you (?:the )?money|new loan to|"
            "refinance (?:with|through) (?:another|a different)|(?:borrow|loan) against)\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "us.fdcpa.1692f",
    },
    # private channels ----------------------------------------------------------------------
    {
        "rule": "script.private_channel.payment",
        "category": "private_channel",
        "zh": (
            "(?:个人|私人|我的|我个人的?|本人的?|员工|业务员|经理|催收员)~3(?:账户|帐户|账号|帐号|"
            "银行卡|卡号|⟨支付宝⟩|\\bzfb(?![a-z])|收款码|二维码)|(?:转|打|汇|付|还)(?:款|"
            "钱|账)?(?:到|给|进|至)(?:我|个人|私人)(?![们司行])|(?:转|打|汇|付|还)(?:款|钱|账)?"
            "(?:到|给|进|至)这个(?:卡号|银行卡|账号|帐号)|私下(?:还款|转账|处理|解决|还|给|转)|私了|"
            "扫(?:一下)?(?:这个|我的?)(?:二维码|收款码|码)|(?:转|汇)(?:给)?我(?![们司行])|"
            "现金~4(?:交给|给)(?:我|业务员|催收员)|当面(?:交钱|给钱|还钱|付现)"
        ),
        "en": (
            "\\b(?:(?:my|his|her) (?:own |personal |private )?(?:bank )?(?:account|paypal|venmo|"
            "cash ?app|zelle|wallet|card)|(?:personal|private) (?:bank )?account|"
            "(?:venmo|cash ?app|zelle|paypal) me|my (?:tag|cashtag|handle|username|venmo|zelle)|"
            "gift ?cards?|(?:itunes|google play|steam|amazon)"
            " cards?|bitcoin|crypto(?:currency)?|wallet address|pay me directly|"
            "(?:pay|send) (?:it |the money |the payment )?(?:to me )?(?:directly|personally) "
            "to me|off the books|under the table|(?:hand|give|bring)(?: [a-z']+){0,3} (?:cash|"
            "money) to (?:our|my|a|the) (?:guy|man|agent|driver|collector|courier)|(?:cash|money) "
            "pick ?up)\\b"
        ),
        "zh_source": "cn.nifa2018.art19",
        "en_source": "us.fdcpa.1692f",
    },
    {
        "rule": "script.private_channel.contact",
        "category": "private_channel",
        "zh": (
            "(?:加|添加|加一下)(?:我|我的|本人的?)?(?:私人|个人)?(?:⟨微信⟩(?!公众号|小程序|搜索)|"
            "\\b(?:vx|wx|v|qq)(?![a-z])|qq)|(?:我的?|私人|个人)(?:私人|个人)?⟨微信⟩|"
            "私聊|(?:我的?|私人|个人)(?:手机号?|电话)"
        ),
        "en": (
            "\\b(?:(?:add|text|message|dm|whatsapp|call) me (?:on|at|via) (?:wechat|whatsapp|"
            "telegram|signal|instagram|facebook|my)|my (?:personal|private|own) (?:cell|phone|"
            "number|mobile|wechat|whatsapp|email))\\b"
        ),
        "zh_source": "cn.cba2026.prohibited",
        "en_source": "cn.cba2026.prohibited",
    },
]


def _rule_pair(
    rule: str,
    category: str,
    *,
    zh: str,
    en: str,
    zh_source: str,
    en_source: str,
    severity: str = BLOCK,
    negatable: bool = True,
    actions: tuple[str, ...] = (),
    unless: re.Pattern[str] | None = None,
    hedge_warn: bool = False,
    third_party_only: bool = False,
    attorney: bool = False,
) -> tuple[_Rule, _Rule]:
    """The Chinese and the English rule of one entry; only Chinese statements are hedged."""
    common = {
        "id": rule,
        "category": category,
        "severity": severity,
        "negatable": negatable,
        "actions": actions,
        "unless": unless,
        "third_party_only": third_party_only,
        "attorney": attorney,
    }
    return (
        _Rule(lang="zh", source=zh_source, pattern=_compile(zh), hedge_warn=hedge_warn, **common),
        _Rule(lang="en", source=en_source, pattern=_compile(en), **common),
    )


_RULES: tuple[_Rule, ...] = tuple(r for spec in _RULES_SPEC for r in _rule_pair(**spec))
# Latin tokens the Chinese rules know besides the pinyin of _SYLLABLES: abbreviations and pinyin
# written in the patterns. A text without Chinese characters runs the Chinese rules only when it
# holds one of them (or a run of pinyin syllables): English text skips that work.
_PINYIN_WORDS = (
    "2b", "bi", "cao", "cnm", "wcnm", "hmd", "jc", "ma", "mlgb", "ni", "nmb", "nmd", "nmsl", "qq",
    "rnm", "sb", "sha", "tm", "tmd", "txl", "vx", "wx", "zfb", "zhengxin",
)  # fmt: skip
_PINYIN_SYLLABLES = sorted({p for _, p in _SYLLABLES.values() if p}, key=len, reverse=True)
_PINYIN_HINT = re.compile(
    "\\b(?:"
    + "|".join((*_PINYIN_WORDS, *(p for p in _PINYIN_SYLLABLES if len(p) >= 3)))
    + ")\\b|\\b(?:"
    + "|".join(_PINYIN_SYLLABLES)
    + ")(?: ?(?:"
    + "|".join(_PINYIN_SYLLABLES)
    + "))+\\b",
    re.ASCII,
)
_LATIN = re.compile("[a-z$]")


# --- judging a match in its clause ------------------------------------------------------------


def _clause(starts: list[int], ends: list[int], start: int, end: int, size: int) -> tuple[int, int]:
    """The clause around [start, end): from the last break before it to the first after it."""
    i = bisect_right(ends, start) - 1
    j = bisect_left(starts, end)
    return (ends[i] if i >= 0 else 0), (starts[j] if j < len(starts) else size)


def _negated(text: str, lo: int, start: int) -> bool:
    """Does a negation in the same clause govern the words that start at ``start``?"""
    if _REPORTED.search(text, lo, start):
        return True
    if _CANCEL.search(text, lo, start):
        return False
    zh = bool(_CJK_CHAR.match(text, start))
    window = max(lo, start - (10 if zh else 60))
    if zh and "、" in text[max(lo, start - 30) : start]:
        # A list under one negation: 不得恐吓、威胁、辱骂或限制他人人身自由.
        window = max(lo, start - 30)
    cues = [
        *_NEGATION_ZH.finditer(text, window, start),
        *_NEGATION_EN.finditer(text, window, start),
    ]
    for cue in sorted(cues, key=lambda m: m.start(), reverse=True):
        if _PSEUDO_NEGATION.match(text, cue.start()):
            continue
        return not _SCOPE_BREAK.search(text, cue.end(), start)
    return False


# An English list item after a comma that starts a clause of its own ("we will", "you") is not
# governed by a negation before the comma.
_OWN_CLAUSE = re.compile(
    "\\s*(?:and |or |but )?(?:we|i|you|he|she|they|it|our|my|your|this|that|there)(?![a-z])",
    re.ASCII,
)


def _negated_list_item(
    text: str, lo: int, start: int, breaks: list[tuple[int, int]], words: int = 8
) -> bool:
    """Whether an English list item is negated by the head before its comma: in "we will never
    call your employer, your family or your friends" every item is, while in "I'm not kidding,
    we will call your family" the second clause has its own subject and is not."""
    if lo == 0 or text[lo - 1] != "," or _CJK_CHAR.match(text, start):
        return False
    if _OWN_CLAUSE.match(text, lo) or len(text[lo:start].split()) > words:
        return False
    head_end = lo - 1
    head_lo = max((end for _, end in breaks if end <= head_end), default=0)
    return _negated(text, head_lo, head_end) and not _SENTENCE_END.search(text, head_lo, head_end)


_SENTENCE_END = re.compile("[.!?;。！？；\\n]")


def audit_script(
    text: str, *, lawful_actions: Iterable[str] = (), to_third_party: bool = False
) -> ScriptAudit:
    """Audit a collection text; ``lawful_actions`` are steps the lender really takes (see
    ``LAWFUL_ACTIONS``; other names never make anything lawful), ``to_third_party`` that the
    text goes to someone other than the debtor."""
    lawful = frozenset((lawful_actions,) if isinstance(lawful_actions, str) else lawful_actions)
    norm = normalise(text)
    n = norm.text
    breaks = [m.span() for m in _CLAUSE_BREAK.finditer(n)]
    break_starts = [b[0] for b in breaks]
    break_ends = [b[1] for b in breaks]
    sentences = [m.span() for m in _SENTENCE_BREAK.finditer(n)]
    sentence_starts = [b[0] for b in sentences]
    sentence_ends = [b[1] for b in sentences]
    run_zh = bool(_CJK_CHAR.search(n) or _PINYIN_HINT.search(n))
    run_en = bool(_LATIN.search(n))
    found: list[Finding] = []
    for rule in _RULES:
        if not (run_zh if rule.lang == "zh" else run_en):
            continue
        if rule.third_party_only and not to_third_party:
            continue
        if rule.actions and lawful.intersection(rule.actions):
            continue
        for match in rule.pattern.finditer(n):
            a, b = match.span()
            if a == b:
                continue
            lo, _ = _clause(break_starts, break_ends, a, b, len(n))
            if rule.negatable and (_negated(n, lo, a) or _negated_list_item(n, lo, a, breaks)):
                continue
            if rule.unless is not None and rule.unless.search(
                n, *_clause(sentence_starts, sentence_ends, a, b, len(n))
            ):
                continue
            severity = rule.severity
            if rule.attorney and "attorney_referral" in lawful:
                severity = WARN
            if rule.hedge_warn and _HEDGE_ZH.search(n, max(lo, a - 8), a):
                severity = WARN
            start, end = norm.span(a, b)
            message, message_zh = _MESSAGES[rule.id]
            found.append(
                Finding(
                    category=rule.category,
                    rule=rule.id,
                    severity=severity,
                    text=text[start:end],
                    start=start,
                    end=end,
                    source=rule.source,
                    message=message,
                    message_zh=message_zh,
                )
            )
    findings = _dedupe(found)
    verdict = max((f.severity for f in findings), key=_RANK.__getitem__, default=PASS)
    return ScriptAudit(verdict, findings)


def _dedupe(found: list[Finding]) -> tuple[Finding, ...]:
    """One finding per stretch of text and category: the most severe, then the longest."""
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (-_RANK[f.severity], f.start - f.end, f.start)):
        if not any(k.category == f.category and k.start < f.end and f.start < k.end for k in kept):
            kept.append(f)
    return tuple(sorted(kept, key=lambda f: (f.start, f.end, f.category)))
