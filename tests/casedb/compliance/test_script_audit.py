"""Script audit: every text a collector says or sends is checked for threats, impersonation, false
legal claims, insults, harassment, disclosure, illegal fees, borrowing pressure and private
channels, in Chinese and English, through the usual disguises, clause by clause."""

import json
import re
from pathlib import Path

import pytest

from casedb.compliance.script_audit import (
    _PINYIN_HINT,
    _RULES,
    _RULES_SPEC,
    _SYLLABLES,
    CATEGORIES,
    LAWFUL_ACTIONS,
    audit_script,
    normalise,
)

LABELLED = Path(__file__).with_name("script_audit_labelled.jsonl")
SOURCES = {
    "cn.nifa2018.art16",
    "cn.nifa2018.art18",
    "cn.nifa2018.art19",
    "cn.cba2026.prohibited",
    "cn.cba2026.third_party",
    "cn.criminal_law.art293_1",
    "us.fdcpa.1692d",
    "us.fdcpa.1692e",
    "us.fdcpa.1692f",
    "us.fdcpa.1692b",
    "us.fdcpa.1692c.b",
    "us.regf.1006.14.c",
    "us.regf.1006.14.d",
    "us.regf.1006.18",
    "us.regf.1006.22",
}


def categories(text: str, **kwargs) -> set[str]:
    return {f.category for f in audit_script(text, **kwargs).findings}


def verdict(text: str, **kwargs) -> str:
    return audit_script(text, **kwargs).verdict


# --- each category, in both languages --------------------------------------------------------

BLOCKED = [
    ("threat", "再不还钱，明天就让警察上门把你抓走。"),
    ("threat", "If you don't pay today, you will be arrested."),
    ("threat", "小心你的家人，我们知道你住哪。"),
    ("threat", "We know where you live and where your kids go to school."),
    ("impersonation", "我是XX市公安局经侦支队的，你的案子已经移交过来了。"),
    ("impersonation", "This is Officer Brown with the county sheriff's office."),
    ("impersonation", "我是XX律师事务所的张律师。"),
    ("impersonation", "This is attorney John Smith calling about your debt."),
    ("false_legal_claim", "你已被列入全国征信黑名单。"),
    ("false_legal_claim", "You committed fraud when you stopped paying this loan."),
    ("false_legal_claim", "你不还钱会影响子女上学和考公。"),
    ("false_legal_claim", "Your children will have to pay this debt if you don't."),
    ("insult", "你这个老赖，真不要脸。"),
    ("insult", "You're a deadbeat and a liar."),
    ("harassment", "我们会每小时给你打一次电话，直到你还钱。"),
    ("harassment", "We will call you every hour until you pay."),
    ("harassment", "不还钱就爆你通讯录。"),
    ("harassment", "We'll call your family and all your friends."),
    ("harassment", "我们会打给你所有的联系人。"),
    ("harassment", "We're going to call everyone in your contact list."),
    ("disclosure", "我们会把你欠钱的事告诉你的家人和朋友。"),
    ("disclosure", "We will tell your employer that you owe us money."),
    ("disclosure", "把你的欠款信息发到朋友圈曝光。"),
    ("disclosure", "We'll post your debt on Facebook for everyone to see."),
    ("illegal_fee", "需要额外支付500元催收费。"),
    ("illegal_fee", "A $50 collection fee will be added to your balance."),
    ("borrow_pressure", "借新还旧也行，先把这期还了。"),
    ("borrow_pressure", "Why don't you take out another loan to pay us?"),
    ("private_channel", "把钱直接转到我个人的支付宝就行。"),
    ("private_channel", "加我微信，私下给你处理。"),
    ("private_channel", "Send the payment to my personal PayPal account."),
    ("private_channel", "Add me on WeChat and we can settle this privately."),
]


@pytest.mark.parametrize(("category", "text"), BLOCKED)
def test_each_category_is_blocked_in_both_languages(category, text):
    audit = audit_script(text)
    assert audit.verdict == "block", audit.as_dict()
    assert category in {f.category for f in audit.findings}


def test_every_category_is_covered_in_chinese_and_english():
    covered = {(c, bool(re.search("[\u4e00-\u9fff]", t))) for c, t in BLOCKED}
    assert covered == {(c, zh) for c in CATEGORIES for zh in (True, False)}


CLEAN = [
    "您好，您在XX银行的信用卡账单已逾期3天，请尽快还款，如已还款请忽略。",
    "请通过XX银行APP或官方对公账户还款，请勿向任何个人账户转账。",
    "请抓紧时间还款，以免逾期天数继续增加。",
    "提醒您切勿麻痹大意，请按时还款。",
    "如有冒充我司工作人员要求您转账至个人账户的，请立即报警。",
    "如有变更请及时告知我公司。",
    "This communication is from a debt collector. This is an attempt to collect a debt.",
    "If you are represented by an attorney, please provide us with their name.",
    "You can pay by debit card, credit card or bank transfer through our secure portal.",
    "Federal law prohibits debt collectors from threatening arrest.",
    "A late fee of $25 was assessed as provided in your cardholder agreement.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_everyday_messages_with_loaded_words_pass(text):
    assert audit_script(text).as_dict() == {"verdict": "pass", "findings": []}


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("再不还款就抓 你", "threat"),  # a space inserted
        ("再不还款就抓*你去坐牢", "threat"),  # a symbol inserted
        ("起*诉你，然后让警 察 抓 你", "threat"),
        ("我們明天就抓你", "threat"),  # traditional
        ("你個廢物", "insult"),
        ("你这个ｓｂ", "insult"),  # full-width
        ("加我ｗｘ", "private_channel"),
        ("You'll be ａｒｒｅｓｔｅｄ if you don't pay.", "threat"),
        ("You will be a r r e s t e d.", "threat"),  # spelled out
        ("You will be a-r-r-e-s-t-e-d.", "threat"),
        ("We’ll have you arrested.", "threat"),  # curly apostrophe
        ("We'll have you аrrested.", "threat"),  # Cyrillic а
        ("We'll have you ar\u200brested.", "threat"),  # zero-width space
        ("警查已经在路上了", "threat"),  # homophone
        ("再不还就让jc找你", "threat"),  # pinyin initials
        ("不还钱就让你坐lao", "threat"),  # pinyin syllable
        ("你已被列入黑明单", "false_legal_claim"),
        ("你已经构成犯zui了", "false_legal_claim"),
        ("草泥马的，电话也不接", "insult"),
        ("cnm，还不还钱？", "insult"),
        ("nmsl 赶紧还", "insult"),
        ("傻b 还钱", "insult"),
        ("麻痹的，再不还试试", "insult"),
        ("sb", "insult"),  # pinyin only, no Chinese character in the text
        ("zhua ni", "threat"),
        ("不还就爆txl", "harassment"),
        ("加我薇信详聊", "private_channel"),
        ("Pay up, b1tch.", "insult"),
        ("f.u.c.k you, pay up", "insult"),
    ],
)
def test_disguises_are_seen_through(text, category):
    assert category in categories(text), audit_script(text).as_dict()


def test_homophone_lawsuit_is_still_a_lawsuit():
    assert verdict("如不还款我们将起sù") == "warn"
    assert verdict("如不还款我们将起sù", lawful_actions=["lawsuit"]) == "pass"
    assert verdict("We will s-u-e you.") == "warn"
    assert verdict("ｗｅ ｗｉｌｌ ｓｕｅ ｙｏｕ") == "warn"


def test_normalised_text_maps_back_to_the_original():
    original = "Ｗｅ’ll  a r r e s t 你們，起 * 訴"
    norm = normalise(original)
    assert norm.text == "we'll arrest你们,起诉"  # NFKC: full-width comma → ","
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    # every normalised character comes from a stretch of the original, in order
    assert all(a < b for a, b in zip(norm.starts, norm.ends, strict=True))
    assert list(norm.starts) == sorted(norm.starts)


def test_line_breaks_between_chinese_characters_stay_clause_breaks():
    assert normalise("抓 你\n\n好").text == "抓你\n\n好"


# --- spans point at the original text -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请注意：再不还款就抓 你!!", "抓 你"),
        ("我們明天就抓你", "抓你"),
        ("Hello.  You'll be ａｒｒｅｓｔｅｄ tomorrow", "ａｒｒｅｓｔｅｄ"),
        ("Listen, you will be a-r-r-e-s-t-e-d.", "a-r-r-e-s-t-e-d"),
        ("你这个ｓｂ，还钱", "ｓｂ"),
    ],
)
def test_span_points_at_the_original_text(text, expected):
    audit = audit_script(text)
    found = [f for f in audit.findings if f.category in ("threat", "insult")]
    assert found, audit.as_dict()
    finding = found[0]
    assert finding.text == expected
    assert text[finding.start : finding.end] == expected


def test_every_finding_text_is_its_span():
    for row in _labelled():
        for f in _audit(row).findings:
            assert row["text"][f.start : f.end] == f.text
            assert f.text.strip()


# --- negation and clauses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我们不会起诉您",
        "we will not sue you",
        "we will never call your employer",
        "我們不會起訴您，請盡快聯繫我們協商還款。",
        "You will not be arrested for this debt.",
        "No one from our company will ever threaten you with arrest.",
        "本公司不会向您的家人、同事透露任何债务信息。",
        "我们不会收取任何催收费用。",
        "We do not charge any fee for paying online.",
        "请注意识别诈骗电话，我司不会要求您添加私人微信。",
        "This is not a lawsuit and no legal action has been taken.",
        "您可以先联系家人商量一下还款计划，再回复我们。",  # the debtor would do it
    ],
)
def test_a_governing_negation_makes_it_lawful(text):
    assert verdict(text) == "pass", audit_script(text).as_dict()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("我不是吓唬你，明天就抓你", "threat"),  # the negation belongs to another clause
        ("我不是吓唬你明天就抓你", "threat"),  # … even without the comma
        ("你再不还钱就让警察抓你", "threat"),  # 不 belongs to the condition
        ("你不还钱我们就把你抓起来", "threat"),
        ("别以为我们不敢抓你", "threat"),  # a cancelled negation asserts
        ("Don't think we won't have you arrested.", "threat"),
        ("We're not bluffing, the sheriff will come and arrest you tomorrow.", "threat"),
        ("If you don't pay today, you will be arrested.", "threat"),
        ("We will not sue you, but we will call your boss every day.", "harassment"),
        ("We might not sue, but the police will arrest you.", "threat"),
        ("实在不行去卖肾。", "borrow_pressure"),
    ],
)
def test_a_negation_of_something_else_does_not_save_the_text(text, category):
    audit = audit_script(text)
    assert audit.verdict == "block", audit.as_dict()
    assert category in {f.category for f in audit.findings}


# --- lawful actions --------------------------------------------------------------------------


def test_an_attorney_referral_is_lawful_only_when_the_lender_refers_accounts():
    text = "We may refer the account to our attorney."
    assert verdict(text, lawful_actions={"attorney_referral", "lawsuit"}) == "pass"
    audit = audit_script(text)
    assert audit.verdict == "warn"
    (finding,) = audit.findings
    assert (finding.category, finding.rule, finding.source) == (
        "false_legal_claim",
        "script.legal.attorney",
        "us.fdcpa.1692e",
    )
    assert finding.text == "refer the account to our attorney"


def test_a_lawsuit_is_lawful_only_when_the_lender_sues():
    text = "如不还款，我们将依法提起诉讼"
    assert verdict(text, lawful_actions=["lawsuit"]) == "pass"
    audit = audit_script(text, lawful_actions=["credit_reporting"])
    assert audit.verdict == "warn"
    assert {f.source for f in audit.findings} == {"cn.cba2026.prohibited"}


def test_a_lawful_lawsuit_does_not_make_an_arrest_threat_lawful():
    text = "如不还款，我们将依法提起诉讼，警察会上门把你带走。"
    audit = audit_script(text, lawful_actions=LAWFUL_ACTIONS)
    assert audit.verdict == "block"
    assert {f.category for f in audit.findings} == {"threat"}


def test_the_debtors_rights_are_not_a_threat():
    assert verdict("You have the right to dispute this debt in court.") == "pass"
    assert verdict("如对欠款有异议，您有权向法院提起诉讼。") == "pass"


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Your account will be reported to the credit bureaus.", "credit_reporting"),
        ("逾期将影响您的个人征信记录。", "credit_reporting"),
        ("Failure to pay may result in wage garnishment.", "garnishment"),
        ("We will repossess your car next week.", "repossession"),
        ("如不还款，我们将安排工作人员上门拜访。", "home_visit"),
        ("We will take legal action.", "lawsuit"),
    ],
)
def test_each_lawful_action_lifts_only_its_own_warning(text, action):
    unrelated = "home_visit" if action != "home_visit" else "credit_reporting"
    assert verdict(text) == "warn"
    assert verdict(text, lawful_actions=[unrelated]) == "warn"
    assert verdict(text, lawful_actions=[action]) == "pass"


def test_an_attorney_claim_is_a_warn_when_the_lender_does_use_attorneys():
    text = "Hello, this is attorney Jane Roe calling about your debt."
    assert verdict(text) == "block"
    assert verdict(text, lawful_actions=["attorney_referral"]) == "warn"


def test_unknown_action_names_make_nothing_lawful():
    assert verdict("We will sue you.", lawful_actions=["law_suit"]) == "warn"
    assert verdict("We will sue you.", lawful_actions="lawsuit") == "pass"  # one name, not letters


def test_a_hedged_crime_statement_warns_and_an_accusation_blocks():
    assert verdict("恶意透支信用卡可能涉嫌信用卡诈骗罪。") == "warn"
    assert verdict("你这是诈骗，是犯罪行为。") == "block"


def test_fees_in_the_agreement_pass():
    assert verdict("根据借款合同约定，逾期期间按日万分之五计收罚息，另收违约金。") == "pass"
    assert verdict("逾期后将加收违约金。") == "block"


# --- to a third party ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "您好，请转告张三，他在我司的借款已逾期，请尽快还款。",
        "你儿子欠我们5万块钱，你作为父亲得管管。",
        "Please tell John that he owes us $2,300 and it is past due.",
        "This is ABC Collections calling for Jane Doe.",
    ],
)
def test_any_mention_of_the_debt_to_a_third_party_is_a_disclosure(text):
    assert "disclosure" not in categories(text)  # said to the debtor, the same words are fine
    audit = audit_script(text, to_third_party=True)
    assert audit.verdict == "block"
    sources = {f.source for f in audit.findings if f.category == "disclosure"}
    assert sources <= {"cn.cba2026.third_party", "us.fdcpa.1692b"}


@pytest.mark.parametrize(
    "text",
    [
        "您好，请问您认识张三吗？麻烦让他给我们回个电话。",
        "Hi, I'm trying to reach John Smith. Could you ask him to call Mark at 555-0134?",
    ],
)
def test_a_location_request_without_the_debt_passes(text):
    assert verdict(text, to_third_party=True) == "pass"


# --- the result ------------------------------------------------------------------------------


def test_the_verdict_is_the_worst_finding_and_serialises():
    audit = audit_script("如不还款，我们将依法提起诉讼。你这个老赖！")
    assert {f.severity for f in audit.findings} == {"warn", "block"}
    assert audit.verdict == "block"
    data = audit.as_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert set(data) == {"verdict", "findings"}
    assert set(data["findings"][0]) == {
        "category",
        "rule",
        "severity",
        "text",
        "start",
        "end",
        "source",
        "message",
        "message_zh",
    }
    assert [f["start"] for f in data["findings"]] == sorted(f["start"] for f in data["findings"])


def test_every_rule_names_a_known_category_source_and_two_messages():
    for rule in _RULES:
        assert rule.category in CATEGORIES
        assert rule.source in SOURCES
        assert rule.severity in ("warn", "block")
    for f in (f for row in _labelled() for f in _audit(row).findings):
        assert f.message.endswith(".") and f.message.count(". ") == 0
        assert f.message_zh.endswith("。") and f.message_zh.count("。") == 1


def test_every_latin_word_of_the_chinese_rules_wakes_them_in_latin_only_text():
    """Chinese rules are skipped on text without Chinese characters unless a pinyin hint is in
    it; a Latin word they match that the hint does not know would never be looked for."""
    words = set()
    for spec in _RULES_SPEC:
        raw = re.sub(r"\\[a-zA-Z]|\[[^\]]*\]|\(\?[:!=<]+", " ", str(spec["zh"]))
        words |= set(re.findall("[a-z0-9]{2,}", raw))
    # Words that only ever follow a Chinese character in the patterns.
    words -= {"call", "app", "hr", "10", "12", "24"}
    words |= {p for _, p in _SYLLABLES.values() if p and len(p) >= 3}
    missing = {w for w in words if not _PINYIN_HINT.search(w)}
    assert not missing


def test_plain_english_does_not_wake_the_chinese_rules():
    assert not _PINYIN_HINT.search(
        normalise("This is a reminder that your payment of $150 is due on June 15.").text
    )


# --- the labelled set ------------------------------------------------------------------------


def _labelled() -> list[dict]:
    with LABELLED.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _audit(row: dict):
    return audit_script(
        row["text"],
        lawful_actions=row.get("lawful_actions", ()),
        to_third_party=row.get("to_third_party", False),
    )


def test_the_labelled_set_is_well_formed():
    rows = _labelled()
    assert len(rows) >= 240
    languages = [r["lang"] for r in rows]
    assert 0.4 <= languages.count("zh") / len(rows) <= 0.6
    assert sum(r["expect"] == "pass" for r in rows) >= 60
    for row in rows:
        assert row["lang"] in ("zh", "en")
        assert row["expect"] in ("pass", "warn", "block")
        assert set(row["categories"]) <= set(CATEGORIES)
        assert bool(row["categories"]) == (row["expect"] != "pass")
        assert row["note"]
        assert set(row.get("lawful_actions", ())) <= LAWFUL_ACTIONS


def test_the_labelled_set_flagged_precision_and_recall(capsys):
    rows = _labelled()
    tp = fp = fn = exact = 0
    for row in rows:
        got = _audit(row).verdict
        flagged, expected = got != "pass", row["expect"] != "pass"
        tp += flagged and expected
        fp += flagged and not expected
        fn += expected and not flagged
        exact += got == row["expect"]
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    with capsys.disabled():
        print(
            f"\nscript audit on {len(rows)} labelled texts: flagged precision {precision:.3f}, "
            f"recall {recall:.3f}; exact verdict {exact}/{len(rows)} = {exact / len(rows):.3f}"
        )
    assert precision >= 0.9
    assert recall >= 0.9


# --- the held-out set ------------------------------------------------------------------------

HELD_OUT = Path(__file__).with_name("script_audit_heldout.jsonl")


def test_on_a_held_out_set_written_without_seeing_the_rules_it_beats_a_keyword_list(capsys):
    """200 texts labelled by someone who never read the rules (and never tuned against): the
    honest estimate for unseen text. It must stay precise (a false block stops a lawful
    reminder) and find clearly more than a keyword list holding the rules' own words."""
    from bench.script_audit_quality import keywords_raw  # noqa: PLC0415

    with HELD_OUT.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    assert len(rows) >= 200

    def scores(verdicts: list[str]) -> tuple[float, float]:
        tp = sum(v != "pass" and r["expect"] != "pass" for v, r in zip(verdicts, rows, strict=True))
        flagged = sum(v != "pass" for v in verdicts)
        expected = sum(r["expect"] != "pass" for r in rows)
        return tp / flagged, tp / expected

    ours = scores([_audit(row).verdict for row in rows])
    keywords = scores([keywords_raw(row)[0] for row in rows])
    with capsys.disabled():
        print(
            f"\nheld-out {len(rows)} texts: flagged precision/recall ours {ours[0]:.3f}/"
            f"{ours[1]:.3f}, keyword list {keywords[0]:.3f}/{keywords[1]:.3f}"
        )
    assert ours[0] >= 0.9
    assert ours[0] > keywords[0] and ours[1] > keywords[1]
