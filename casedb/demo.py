"""A demo portfolio generated on top of the real UCI portfolio, so the console has people to show.

The UCI "default of credit card clients" data (``casedb.importing.uci``) is real but anonymous:
no names, ID numbers, phones, regions, contact history or collectors. ``build_demo`` invents
them — none of it describes a real person — and marks everything it invents:

- each UCI customer gets a Chinese name matching the recorded gender, a syntactically valid
  18-digit resident ID whose birth date matches the recorded age on the business date
  (2005-09-30), a mainland province, city and IANA time zone; the fields it overwrote are listed
  in ``customer.attributes["demo_generated"]`` and the seed in ``attributes["demo_seed"]``;
- every row it adds to another table (teams, collectors, contact points, emergency contacts,
  contact attempts, promises to pay) has an external id starting ``DEMO-``;
- change events for the contacts and promises it logs carry the actor ``demo``.

The real UCI facts (balances, statements, payments, DPD, overdue amounts) are left as they are,
and cases are not assigned to teams or collectors: that is the rules service's job. Promises
marked kept or partly kept are illustrative; no repayment transaction is generated for them.

Everything follows from the seed: each customer and each case draws from its own
``random.Random`` seeded with the demo seed and its external id, so the same seed gives the same
demo whatever the chunking, and a second run with the same seed changes nothing. A run with
another seed (remembered in the ``demo_seed`` system setting) first removes the ``DEMO-`` contact
rows of the previous one, then rewrites the generated fields and builds the rest afresh.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Engine, Table, delete, select
from sqlalchemy.orm import Session

from casedb import pii
from casedb.importing.kinds import contact_events, promise_events
from casedb.importing.uci import BUSINESS_DATE
from casedb.importing.writer import WriteResult, key_in, write_rows
from casedb.models import (
    CONNECTED_OUTCOMES,
    Channel,
    CollectionCase,
    Collector,
    Consent,
    ContactAttempt,
    ContactKind,
    ContactPoint,
    Customer,
    Direction,
    Outcome,
    Party,
    PromiseStatus,
    PromiseToPay,
    Relationship,
    SystemSetting,
    Team,
    ThirdPartyContact,
)
from casedb.models.customers import masked_contact_value
from casedb.outbox import emit_many
from casedb.session import session_factory

ACTOR = "demo"
# System setting that remembers the seed of the demo in the database.
SEED_SETTING = "demo_seed"
PREFIX = "DEMO-"
CHUNK_SIZE = 5000
HISTORY_START = date(2005, 8, 1)
# Local hours a collector may call (08:00-21:00); the last call starts before 20:50.
FIRST_HOUR, LAST_HOUR = 8, 20
# Overdue amount from which a case is worked by the high-balance team.
HIGH_BALANCE = Decimal(100_000)
GENERATED_FIELDS = [
    "name",
    "birth_date",
    "id_type",
    "id_number",
    "region",
    "city",
    "timezone",
]


# --- places --------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    # County-level administrative division code: the first six digits of a resident ID.
    division_code: str
    # Long-distance dialling prefix of the city's landlines.
    area_code: str


@dataclass(frozen=True)
class Province:
    name: str
    weight: float
    timezone: str
    cities: tuple[City, ...]


# Per province: population in 2005 (millions, how often debtors come from there), then cities as
# name/county division code (first six digits of a resident ID)/long-distance dialling prefix.
_PROVINCE_TABLE = """
    北京 15 北京/110105/010 北京/110108/010
    天津 10 天津/120103/022
    河北 69 石家庄/130102/0311 唐山/130203/0315 保定/130602/0312
    山西 34 太原/140105/0351 大同/140212/0352
    内蒙古 24 呼和浩特/150102/0471 包头/150203/0472
    辽宁 42 沈阳/210102/024 大连/210202/0411
    吉林 27 长春/220102/0431 吉林/220202/0432
    黑龙江 38 哈尔滨/230102/0451 大庆/230602/0459
    上海 18 上海/310115/021 上海/310104/021
    江苏 75 南京/320102/025 苏州/320505/0512 无锡/320211/0510
    浙江 49 杭州/330106/0571 宁波/330203/0574 温州/330302/0577
    安徽 61 合肥/340104/0551 芜湖/340202/0553
    福建 35 福州/350102/0591 厦门/350203/0592 泉州/350502/0595
    江西 43 南昌/360102/0791 赣州/360702/0797
    山东 92 济南/370102/0531 青岛/370202/0532 烟台/370602/0535
    河南 94 郑州/410105/0371 洛阳/410302/0379 南阳/411302/0377
    湖北 57 武汉/420106/027 宜昌/420502/0717
    湖南 63 长沙/430104/0731 衡阳/430405/0734
    广东 92 广州/440106/020 深圳/440304/0755 东莞/441900/0769 佛山/440604/0757
    广西 47 南宁/450103/0771 柳州/450202/0772 桂林/450302/0773
    海南 8 海口/460106/0898 三亚/460202/0898
    重庆 28 重庆/500103/023 重庆/500112/023
    四川 82 成都/510104/028 绵阳/510703/0816 南充/511302/0817
    贵州 37 贵阳/520102/0851 遵义/520302/0852
    云南 44 昆明/530102/0871 曲靖/530302/0874
    西藏 3 拉萨/540102/0891
    陕西 37 西安/610113/029 宝鸡/610302/0917
    甘肃 26 兰州/620102/0931 天水/620502/0938
    青海 5 西宁/630102/0971
    宁夏 6 银川/640104/0951
    新疆 20 乌鲁木齐/650102/0991 喀什/653101/0998
"""
# Xinjiang keeps its own local time beside Beijing time; every other province uses Beijing time.
_PROVINCE_TIMEZONES = {"新疆": "Asia/Urumqi"}


def _provinces(table: str) -> tuple[Province, ...]:
    provinces = []
    for line in table.strip().splitlines():
        name, weight, *cities = line.split()
        timezone = _PROVINCE_TIMEZONES.get(name, "Asia/Shanghai")
        places = tuple(City(*city.split("/")) for city in cities)
        provinces.append(Province(name, float(weight), timezone, places))
    return tuple(provinces)


PROVINCES = _provinces(_PROVINCE_TABLE)
_PROVINCE_WEIGHTS = [p.weight for p in PROVINCES]
NORTH_AND_EAST = ("北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "山东")
EAST = ("上海", "江苏", "浙江", "安徽", "福建", "江西", "山东")
SOUTH = ("广东", "广西", "海南")
CENTRE = ("河南", "湖北", "湖南", "陕西")
SOUTH_WEST = ("重庆", "四川", "贵州", "云南", "西藏")
NORTH_WEST = ("陕西", "甘肃", "青海", "宁夏", "新疆", "河南")
# Provinces whose M2/M3 cases the first call team works; the second team works the rest.
CALL_TEAM_1_PROVINCES = frozenset(NORTH_AND_EAST + EAST)


# --- names ---------------------------------------------------------------------------------


def _surnames(spec: str) -> tuple[tuple[str, str, float], ...]:
    return tuple((s, py, float(w)) for s, py, w in (item.split(":") for item in spec.split()))


# Common surnames with their pinyin and rough share of the population (per cent).
SURNAMES = _surnames(
    "王:wang:7.1 李:li:7.0 张:zhang:6.7 刘:liu:5.4 陈:chen:4.5 杨:yang:3.1 黄:huang:2.2 "
    "赵:zhao:2.2 吴:wu:2.0 周:zhou:1.9 徐:xu:1.3 孙:sun:1.3 马:ma:1.2 朱:zhu:1.2 "
    "胡:hu:1.1 郭:guo:1.1 何:he:1.0 高:gao:1.0 林:lin:1.0 罗:luo:0.9 郑:zheng:0.9 "
    "梁:liang:0.8 谢:xie:0.7 宋:song:0.6 唐:tang:0.6 许:xu:0.6 韩:han:0.55 冯:feng:0.55 "
    "邓:deng:0.55 曹:cao:0.5 彭:peng:0.5 曾:zeng:0.5 肖:xiao:0.5 田:tian:0.45 "
    "董:dong:0.45 袁:yuan:0.4 潘:pan:0.4 于:yu:0.4 蒋:jiang:0.4 蔡:cai:0.4 余:yu:0.4 "
    "杜:du:0.35 叶:ye:0.35 程:cheng:0.35 苏:su:0.3 魏:wei:0.3 吕:lv:0.3 丁:ding:0.3 "
    "任:ren:0.3 沈:shen:0.3 姚:yao:0.25 卢:lu:0.25 姜:jiang:0.25 崔:cui:0.25 "
    "钟:zhong:0.25 谭:tan:0.25 陆:lu:0.2 汪:wang:0.2 范:fan:0.2 金:jin:0.2 石:shi:0.2 "
    "廖:liao:0.2 贾:jia:0.2 夏:xia:0.2 韦:wei:0.2 方:fang:0.2 白:bai:0.15 邹:zou:0.15 "
    "孟:meng:0.15 熊:xiong:0.15 秦:qin:0.15 邱:qiu:0.15 江:jiang:0.15 尹:yin:0.15 "
    "薛:xue:0.15 闫:yan:0.15 段:duan:0.15 雷:lei:0.15 侯:hou:0.15 龙:long:0.15 "
    "史:shi:0.15 黎:li:0.1 贺:he:0.1 顾:gu:0.1 毛:mao:0.1 郝:hao:0.1 龚:gong:0.1 "
    "邵:shao:0.1 万:wan:0.1 钱:qian:0.1 覃:qin:0.1 欧阳:ouyang:0.05 司马:sima:0.01 "
    "上官:shangguan:0.01"
)
_SURNAME_WEIGHTS = [w for _, _, w in SURNAMES]


def _characters(spec: str) -> tuple[tuple[str, str], ...]:
    return tuple((c, py) for c, py in (item.split(":") for item in spec.split()))


GIVEN_NAME_CHARACTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "male": _characters(
        "伟:wei 强:qiang 磊:lei 军:jun 勇:yong 杰:jie 涛:tao 斌:bin 超:chao 明:ming 刚:gang "
        "平:ping 辉:hui 鹏:peng 华:hua 飞:fei 鑫:xin 波:bo 宁:ning 俊:jun 浩:hao 建:jian "
        "国:guo 志:zhi 文:wen 海:hai 东:dong 峰:feng 林:lin 龙:long 亮:liang 兵:bing 宇:yu "
        "凯:kai 成:cheng 晨:chen 永:yong 健:jian 德:de 荣:rong 春:chun 立:li 新:xin 学:xue "
        "振:zhen 光:guang 庆:qing 锋:feng 毅:yi 昊:hao"
    ),
    "female": _characters(
        "芳:fang 娜:na 敏:min 静:jing 丽:li 艳:yan 娟:juan 霞:xia 秀:xiu 玲:ling 桂:gui "
        "英:ying 燕:yan 红:hong 婷:ting 雪:xue 琳:lin 丹:dan 萍:ping 慧:hui 莉:li 倩:qian "
        "洁:jie 颖:ying 月:yue 梅:mei 琴:qin 云:yun 兰:lan 晶:jing 欣:xin 佳:jia 蕾:lei "
        "璐:lu 楠:nan 雯:wen 春:chun 凤:feng 玉:yu 晓:xiao 美:mei 小:xiao"
    ),
}


@dataclass(frozen=True)
class PersonName:
    surname: str
    given: str
    pinyin: str

    @property
    def chinese(self) -> str:
        return self.surname + self.given


def person_name(rng: random.Random, gender: str) -> PersonName:
    """A plausible full name: a weighted common surname and a one- or two-character given name."""
    surname, surname_py, _ = rng.choices(SURNAMES, weights=_SURNAME_WEIGHTS)[0]
    pool = (
        GIVEN_NAME_CHARACTERS.get(gender) or GIVEN_NAME_CHARACTERS[rng.choice(("male", "female"))]
    )
    count = 1 if rng.random() < 0.3 else 2
    given = rng.sample(pool, count)
    return PersonName(
        surname, "".join(c for c, _ in given), surname_py + "".join(py for _, py in given)
    )


# --- resident ID numbers -------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARACTERS = "10X98765432"


def resident_id_check_character(first_17: str) -> str:
    """The 18th character of a PRC resident ID (GB 11643, ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first_17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARACTERS[total % 11]


def birth_date_for_age(rng: random.Random, age: int, on: date) -> date:
    """A birth date at which someone is exactly ``age`` years old on ``on``."""
    latest = on.replace(year=on.year - age)
    earliest = on.replace(year=on.year - age - 1) + timedelta(days=1)
    return date.fromordinal(rng.randint(earliest.toordinal(), latest.toordinal()))


def resident_id_number(rng: random.Random, division_code: str, born: date, gender: str) -> str:
    """An 18-character resident ID: division, birth date, sequence (odd for men), check."""
    sequence = rng.randrange(0, 500) * 2 + (1 if gender == "male" else 0)
    first_17 = f"{division_code}{born:%Y%m%d}{sequence:03d}"
    return first_17 + resident_id_check_character(first_17)


# --- phones and e-mail ---------------------------------------------------------------------

# China Mobile, Unicom and Telecom number blocks (there is no 154 block).
MOBILE_PREFIXES = tuple(
    str(p) for p in (*range(130, 140), *range(150, 160), 180, 186, 187, 188, 189, 199) if p != 154
)
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "139.com")


def mobile_number(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def landline_number(rng: random.Random, city: City) -> str:
    return f"{city.area_code}-{rng.randint(2, 8)}{rng.randrange(10**7):07d}"


def email_address(rng: random.Random, name: PersonName, born: date) -> str:
    domain = rng.choice(MAIL_DOMAINS)
    if domain == "qq.com":
        return f"{rng.randint(10**7, 10**10 - 1)}@qq.com"
    return f"{name.pinyin}{born:%y}{rng.randrange(100):02d}@{domain}"


def local_instant(rng: random.Random, day: date, zone: ZoneInfo) -> datetime:
    """A UTC instant in the working day (08:00-20:50) of ``day`` in the debtor's zone."""
    hour = rng.choices(range(FIRST_HOUR, LAST_HOUR + 1), weights=_HOUR_WEIGHTS)[0]
    minute = rng.randrange(50 if hour == LAST_HOUR else 60)
    moment = datetime.combine(day, time(hour, minute, rng.randrange(60)), zone)
    return moment.astimezone(UTC)


# Calls cluster in mid-morning, mid-afternoon and early evening, thin at lunch and late.
_HOUR_WEIGHTS = (3, 8, 10, 9, 5, 6, 8, 9, 8, 6, 5, 5, 3)


def _day_between(rng: random.Random, first: date, last: date) -> date:
    return date.fromordinal(rng.randint(first.toordinal(), last.toordinal()))


# --- collectors and teams ------------------------------------------------------------------


@dataclass(frozen=True)
class TeamPlan:
    code: str
    name: str
    region: str
    supervisor: str


TEAMS = (
    TeamPlan("DEMO-T-EARLY", "早期提醒组", "全国", "supervisor1"),
    TeamPlan("DEMO-T-CALL1", "电话催收一组", "华东", "supervisor2"),
    TeamPlan("DEMO-T-CALL2", "电话催收二组", "华南", "supervisor2"),
    TeamPlan("DEMO-T-HIGH", "大额专案组", "全国", "supervisor3"),
    TeamPlan("DEMO-T-LEGAL", "法务组", "全国", "supervisor3"),
)

# (team, skills, languages, regions, capacity range) for collector1 .. collector20.
_ROSTER: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], range], ...] = (
    ("DEMO-T-EARLY", (), ("zh",), (), range(300, 401, 10)),
    ("DEMO-T-EARLY", (), ("zh",), (), range(300, 401, 10)),
    ("DEMO-T-EARLY", ("hardship",), ("zh",), (), range(300, 401, 10)),
    ("DEMO-T-EARLY", ("english",), ("zh", "en"), (), range(300, 401, 10)),
    ("DEMO-T-EARLY", ("cantonese",), ("zh", "yue"), (), range(300, 401, 10)),
    ("DEMO-T-CALL1", (), ("zh",), NORTH_AND_EAST, range(200, 301, 10)),
    ("DEMO-T-CALL1", ("hardship",), ("zh",), NORTH_AND_EAST, range(200, 301, 10)),
    ("DEMO-T-CALL1", (), ("zh",), EAST, range(200, 301, 10)),
    ("DEMO-T-CALL1", ("english",), ("zh", "en"), EAST, range(200, 301, 10)),
    ("DEMO-T-CALL2", ("cantonese",), ("zh", "yue"), SOUTH, range(200, 301, 10)),
    ("DEMO-T-CALL2", ("cantonese", "hardship"), ("zh", "yue"), SOUTH, range(200, 301, 10)),
    ("DEMO-T-CALL2", (), ("zh",), CENTRE, range(200, 301, 10)),
    ("DEMO-T-CALL2", (), ("zh",), SOUTH_WEST, range(200, 301, 10)),
    ("DEMO-T-CALL2", ("hardship",), ("zh",), NORTH_WEST, range(200, 301, 10)),
    ("DEMO-T-HIGH", ("high_balance",), ("zh",), (), range(150, 201, 10)),
    ("DEMO-T-HIGH", ("high_balance", "english"), ("zh", "en"), (), range(150, 201, 10)),
    ("DEMO-T-HIGH", ("high_balance", "cantonese"), ("zh", "yue"), (), range(150, 201, 10)),
    ("DEMO-T-LEGAL", ("legal",), ("zh",), (), range(150, 251, 10)),
    ("DEMO-T-LEGAL", ("legal", "hardship"), ("zh",), (), range(150, 251, 10)),
    ("DEMO-T-LEGAL", ("legal", "high_balance"), ("zh",), (), range(150, 251, 10)),
)


@dataclass(frozen=True)
class CollectorPlan:
    code: str
    team_code: str
    regions: tuple[str, ...]


def _team_rows() -> list[dict[str, Any]]:
    return [
        {
            "code": t.code,
            "name": t.name,
            "region": t.region,
            "supervisor_username": t.supervisor,
            "active": True,
        }
        for t in TEAMS
    ]


def _collector_rows(seed: int, team_ids: dict[str, int]) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}/collectors")
    rows = []
    for number, (team, skills, languages, regions, capacity) in enumerate(_ROSTER, start=1):
        rows.append(
            {
                "code": f"DEMO-C-{number:03d}",
                "name": person_name(rng, rng.choice(("male", "female"))).chinese,
                "username": f"collector{number}",
                "team_id": team_ids[team],
                "skills": list(skills),
                "languages": list(languages),
                "regions": list(regions),
                "capacity": rng.choice(capacity),
                "active": True,
            }
        )
    return rows


COLLECTORS = tuple(
    CollectorPlan(f"DEMO-C-{n:03d}", team, regions)
    for n, (team, _, _, regions, _) in enumerate(_ROSTER, start=1)
)


def _working_team(dpd: int, overdue: Decimal, province: str) -> str:
    """Which team logged a case's contacts (not an assignment: the rules service assigns)."""
    if dpd > 90:
        return "DEMO-T-LEGAL"
    if overdue >= HIGH_BALANCE:
        return "DEMO-T-HIGH"
    if dpd <= 30:
        return "DEMO-T-EARLY"
    return "DEMO-T-CALL1" if province in CALL_TEAM_1_PROVINCES else "DEMO-T-CALL2"


def _collectors_for(team: str, province: str) -> list[str]:
    members = [c for c in COLLECTORS if c.team_code == team]
    local = [c.code for c in members if not c.regions or province in c.regions]
    return local or [c.code for c in members]


# --- contact history -----------------------------------------------------------------------

_CALL_OUTCOMES = (
    (Outcome.NO_ANSWER, 38),
    (Outcome.BUSY, 8),
    (Outcome.VOICEMAIL, 9),
    (Outcome.RIGHT_PARTY_CONTACT, 14),
    (Outcome.PROMISE_TO_PAY, 13),
    (Outcome.REFUSED_TO_PAY, 5),
    (Outcome.HARDSHIP, 4),
    (Outcome.DISPUTE, 1.5),
    (Outcome.ALREADY_PAID, 1.5),
    (Outcome.WRONG_NUMBER, 2),
)
_INBOUND_OUTCOMES = (
    (Outcome.RIGHT_PARTY_CONTACT, 40),
    (Outcome.PROMISE_TO_PAY, 35),
    (Outcome.HARDSHIP, 15),
    (Outcome.ALREADY_PAID, 10),
)
_THIRD_PARTY_OUTCOMES = (
    (Outcome.THIRD_PARTY_REACHED, 50),
    (Outcome.NO_ANSWER, 38),
    (Outcome.THIRD_PARTY_REFUSED, 12),
)
CALL_NOTES: dict[Outcome, tuple[str, ...]] = {
    Outcome.RIGHT_PARTY_CONTACT: (
        "客户接听，已告知逾期金额及影响，客户表示会尽快筹款",
        "核实身份后提醒还款，客户称近期资金紧张，未给出明确还款时间",
        "客户表示需与家人商量后回复",
        "客户称最近出差，回来后处理欠款",
    ),
    Outcome.REFUSED_TO_PAY: (
        "客户明确拒绝还款，态度强硬",
        "客户称无力偿还，拒绝给出还款计划",
        "客户挂断电话，拒绝沟通还款事宜",
    ),
    Outcome.HARDSHIP: (
        "客户称已失业，申请延期还款，已登记困难情况",
        "客户家人住院，经济困难，请求减免部分利息",
        "客户生意亏损，希望分期偿还，已记录待审批",
    ),
    Outcome.DISPUTE: ("客户对欠款金额有异议，称部分消费非本人所为，已记录待核实",),
    Outcome.ALREADY_PAID: ("客户称已还款，待系统入账后核实",),
    Outcome.CEASE_REQUESTED: ("客户书面要求停止电话催收，已记录并上报主管",),
    Outcome.WRONG_NUMBER: ("接听人称不认识该客户，号码可能已更换",),
    Outcome.THIRD_PARTY_REACHED: ("联系到紧急联系人，已请其转告客户回电，未透露欠款信息",),
    Outcome.THIRD_PARTY_REFUSED: ("紧急联系人拒绝转告，要求不要再联系",),
}
# Promise notes end with the promised date and amount; the opening depends on how much it covers.
PROMISE_NOTES = {
    "full": ("客户表示月底发工资后还款", "客户承诺通过网银转账结清逾期款项"),
    "part": ("客户同意先还一部分，剩余部分下月结清", "客户资金不足，承诺先还部分欠款"),
}
PROMISE_RESOLUTION = (
    (PromiseStatus.KEPT, 45),
    (PromiseStatus.PARTLY_KEPT, 20),
    (PromiseStatus.BROKEN, 35),
)


def _weighted(rng: random.Random, table: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


# --- generated rows, before they get database ids -------------------------------------------


@dataclass
class CustomerPlan:
    """One UCI customer and what the demo generates for them."""

    customer_id: int
    customer_no: str
    gender: str | None
    marital_status: str | None
    surname: str
    province: Province
    city: City
    zone: ZoneInfo
    row: dict[str, Any]
    contact_points: list[dict[str, Any]] = field(default_factory=list)
    third_parties: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mobile(self) -> dict[str, Any]:
        return self.contact_points[0]

    def contact_point(self, kind: ContactKind) -> dict[str, Any] | None:
        return next((c for c in self.contact_points if c["kind"] == kind.value), None)


@dataclass(frozen=True)
class OpenCase:
    case_id: int
    case_no: str
    customer_id: int
    opened_on: date
    dpd: int
    overdue: Decimal


@dataclass
class AttemptPlan:
    row: dict[str, Any]
    contact_point_no: str | None
    third_party_no: str | None
    collector_code: str


@dataclass
class PromisePlan:
    row: dict[str, Any]
    attempt_no: str
    collector_code: str
    # Whether the promise covers only part of the overdue amount.
    partial: bool


# --- the report ----------------------------------------------------------------------------


@dataclass
class TableCount:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def add(self, result: WriteResult) -> None:
        self.inserted += len(result.inserted)
        self.updated += len(result.updated)
        self.unchanged += result.unchanged


REPORTED_TABLES = (
    "team",
    "collector",
    "customer",
    "contact_point",
    "third_party_contact",
    "contact_attempt",
    "promise_to_pay",
)


@dataclass
class DemoReport:
    """What a demo build wrote, table by table."""

    seed: int
    customers_seen: int = 0
    open_cases_seen: int = 0
    events: int = 0
    tables: dict[str, TableCount] = field(
        default_factory=lambda: {name: TableCount() for name in REPORTED_TABLES}
    )

    def count(self, table: str) -> TableCount:
        return self.tables.setdefault(table, TableCount())

    @property
    def changed(self) -> bool:
        return any(c.inserted or c.updated or c.removed for c in self.tables.values())

    def summary(self) -> str:
        parts = [
            f"{name}: +{c.inserted} ~{c.updated} ={c.unchanged}"
            + (f" -{c.removed}" if c.removed else "")
            for name, c in self.tables.items()
        ]
        return (
            f"demo seed {self.seed}: {self.customers_seen} customers, {self.open_cases_seen} open "
            f"cases; " + "; ".join(parts) + f"; events {self.events} "
            "(+inserted ~updated =unchanged -removed)"
        )


# --- building ------------------------------------------------------------------------------


def build_demo(engine: Engine, seed: int) -> DemoReport:
    """Generate the demo portfolio over the imported UCI customers, in one transaction.

    Raises ``ValueError`` when no UCI customer is there to build on.
    """
    report = DemoReport(seed)
    with session_factory(engine)() as session, session.begin():
        if not _has_uci_customers(session):
            raise ValueError(
                "no UCI customers in the case database: import the UCI portfolio first: "
                "python run.py import uci FILE"
            )
        _forget_other_seed(session, seed, report)
        teams = write_rows(session, Team.__table__, ("code",), _team_rows())
        report.count("team").add(teams)
        team_ids = {key[0]: row_id for key, row_id in teams.ids.items()}
        collectors = write_rows(
            session, Collector.__table__, ("code",), _collector_rows(seed, team_ids)
        )
        report.count("collector").add(collectors)
        collector_ids = {key[0]: row_id for key, row_id in collectors.ids.items()}
        after = ""
        while True:
            chunk = _customer_chunk(session, after)
            if not chunk:
                break
            after = chunk[-1]["customer_no"]
            _build_chunk(session, seed, chunk, collector_ids, report)
        _remember_seed(session, seed)
    return report


def _has_uci_customers(session: Session) -> bool:
    found = session.execute(select(Customer.id).where(Customer.source == "uci").limit(1))
    return found.first() is not None


def _customer_chunk(session: Session, after: str) -> list[dict[str, Any]]:
    statement = (
        select(
            Customer.id,
            Customer.customer_no,
            Customer.gender,
            Customer.age,
            Customer.marital_status,
            Customer.attributes,
        )
        .where(Customer.source == "uci", Customer.customer_no > after)
        .order_by(Customer.customer_no)
        .limit(CHUNK_SIZE)
    )
    return [dict(r) for r in session.execute(statement).mappings()]


def _open_cases(session: Session, customer_ids: list[int]) -> list[OpenCase]:
    c = CollectionCase
    statement = (
        select(
            c.id,
            c.case_no,
            c.customer_id,
            c.opened_on,
            c.dpd,
            c.overdue_principal,
            c.overdue_interest,
            c.overdue_fees,
        )
        .where(key_in(session, c.customer_id, customer_ids), c.closed_on.is_(None))
        .order_by(c.case_no)
    )
    return [
        OpenCase(r.id, r.case_no, r.customer_id, r.opened_on, r.dpd, r[5] + r[6] + r[7])
        for r in session.execute(statement)
    ]


def _build_chunk(
    session: Session,
    seed: int,
    chunk: list[dict[str, Any]],
    collector_ids: dict[str, int],
    report: DemoReport,
) -> None:
    customer_ids = [c["id"] for c in chunk]
    cases = _open_cases(session, customer_ids)
    customers_in_case = {c.customer_id for c in cases}
    plans = {c["id"]: _plan_customer(seed, c, has_case=c["id"] in customers_in_case) for c in chunk}
    attempts: list[AttemptPlan] = []
    promises: list[PromisePlan] = []
    for case in cases:
        case_attempts, case_promises = _plan_case(seed, case, plans[case.customer_id])
        attempts.extend(case_attempts)
        promises.extend(case_promises)
    report.customers_seen += len(chunk)
    report.open_cases_seen += len(cases)

    report.count("customer").add(
        write_rows(session, Customer.__table__, ("customer_no",), [p.row for p in plans.values()])
    )
    points = write_rows(
        session,
        ContactPoint.__table__,
        ("contact_point_no",),
        [cp for p in plans.values() for cp in p.contact_points],
    )
    report.count("contact_point").add(points)
    parties = write_rows(
        session,
        ThirdPartyContact.__table__,
        ("third_party_no",),
        [tp for p in plans.values() for tp in p.third_parties],
    )
    report.count("third_party_contact").add(parties)

    for a in attempts:
        a.row["collector_id"] = collector_ids[a.collector_code]
        a.row["contact_point_id"] = (
            points.ids[(a.contact_point_no,)] if a.contact_point_no else None
        )
        a.row["third_party_contact_id"] = (
            parties.ids[(a.third_party_no,)] if a.third_party_no else None
        )
    contacts = write_rows(
        session, ContactAttempt.__table__, ("attempt_no",), [a.row for a in attempts]
    )
    report.count("contact_attempt").add(contacts)
    for p in promises:
        p.row["contact_attempt_id"] = contacts.ids[(p.attempt_no,)]
        p.row["collector_id"] = collector_ids[p.collector_code]
    promised = write_rows(
        session, PromiseToPay.__table__, ("promise_no",), [p.row for p in promises]
    )
    report.count("promise_to_pay").add(promised)
    report.events += emit_many(
        session,
        contact_events(session, contacts) + promise_events(session, promised),
        actor=ACTOR,
    )
    _remove_stale(
        session, report, customer_ids, [c.case_id for c in cases], plans, attempts, promises
    )


def _plan_customer(seed: int, customer: dict[str, Any], has_case: bool) -> CustomerPlan:
    """Name, ID, home and contact points of one customer, from the customer's own random stream."""
    customer_no = customer["customer_no"]
    rng = random.Random(f"{seed}/customer/{customer_no}")
    gender = customer["gender"] if customer["gender"] in ("male", "female") else None
    sex = gender or rng.choice(("male", "female"))
    province = rng.choices(PROVINCES, weights=_PROVINCE_WEIGHTS)[0]
    city = rng.choice(province.cities)
    age = customer["age"] if customer["age"] and customer["age"] > 0 else rng.randint(25, 55)
    born = birth_date_for_age(rng, age, BUSINESS_DATE)
    name = person_name(rng, sex)
    id_number = resident_id_number(rng, city.division_code, born, sex)
    attributes = {
        **(customer["attributes"] or {}),
        "demo_generated": list(GENERATED_FIELDS),
        "demo_seed": seed,
    }
    plan = CustomerPlan(
        customer_id=customer["id"],
        customer_no=customer_no,
        gender=sex,
        marital_status=customer["marital_status"],
        surname=name.surname,
        province=province,
        city=city,
        zone=ZoneInfo(province.timezone),
        row={
            "customer_no": customer_no,
            "name": name.chinese,
            "birth_date": born,
            "id_type": "resident_id",
            "id_number": id_number,
            "id_number_masked": pii.mask_id_number(id_number),
            "id_number_digest": pii.id_number_digest(id_number),
            "region": province.name,
            "city": city.name,
            "timezone": province.timezone,
            "attributes": attributes,
        },
    )
    plan.contact_points.append(
        _contact_point(plan, "M", ContactKind.MOBILE, mobile_number(rng), rng, primary=True)
    )
    if rng.random() < 0.3:
        plan.contact_points.append(
            _contact_point(plan, "H", ContactKind.HOME_PHONE, landline_number(rng, city), rng)
        )
    if rng.random() < 0.25:
        plan.contact_points.append(
            _contact_point(plan, "E", ContactKind.EMAIL, email_address(rng, name, born), rng)
        )
    mobile = plan.mobile
    if rng.random() < 0.03:
        mobile["opted_out"] = True
        day = _day_between(rng, date(2005, 6, 1), BUSINESS_DATE)
        mobile["opted_out_at"] = local_instant(rng, day, plan.zone)
    if not has_case and rng.random() < 0.01:
        # Without an open case there is no contact history a cease request must end.
        mobile["ceased"] = True
        day = _day_between(rng, date(2005, 7, 1), BUSINESS_DATE)
        mobile["ceased_at"] = local_instant(rng, day, plan.zone)
    if has_case and rng.random() < 0.5:
        plan.third_parties.append(_emergency_contact(plan, rng))
    return plan


def _contact_point(
    plan: CustomerPlan,
    suffix: str,
    kind: ContactKind,
    value: str,
    rng: random.Random,
    primary: bool = False,
) -> dict[str, Any]:
    masked, digest = masked_contact_value(kind, value)
    granted = rng.random() < 0.1
    consent_day = _day_between(rng, date(2004, 1, 1), BUSINESS_DATE)
    return {
        "contact_point_no": f"{PREFIX}CP-{plan.customer_no}-{suffix}",
        "customer_id": plan.customer_id,
        "kind": kind.value,
        "value": value,
        "value_masked": masked,
        "value_digest": digest,
        "is_primary": primary,
        "consent": (Consent.GRANTED if granted else Consent.UNKNOWN).value,
        "consent_at": local_instant(rng, consent_day, plan.zone) if granted else None,
        "ceased": False,
        "ceased_at": None,
        "opted_out": False,
        "opted_out_at": None,
        "invalid": False,
        "timezone": plan.province.timezone,
        "region": plan.province.name,
    }


_RELATIONSHIPS = (
    (Relationship.PARENT, 30),
    (Relationship.SIBLING, 20),
    (Relationship.FRIEND, 20),
    (Relationship.COLLEAGUE, 15),
    (Relationship.RELATIVE, 5),
)


def _emergency_contact(plan: CustomerPlan, rng: random.Random) -> dict[str, Any]:
    if plan.marital_status == "married" and rng.random() < 0.7:
        relationship = Relationship.SPOUSE
    else:
        relationship = _weighted(rng, _RELATIONSHIPS)
    if relationship is Relationship.SPOUSE:
        gender = "female" if plan.gender == "male" else "male"
    else:
        gender = rng.choice(("male", "female"))
    name = person_name(rng, gender)
    shares_surname = relationship in (Relationship.PARENT, Relationship.SIBLING)
    # Most parents and siblings named as emergency contacts share the debtor's surname.
    full_name = plan.surname + name.given if shares_surname and rng.random() < 0.7 else name.chinese
    phone = mobile_number(rng)
    return {
        "third_party_no": f"{PREFIX}TP-{plan.customer_no}-1",
        "customer_id": plan.customer_id,
        "name": full_name,
        "relationship_to_debtor": relationship.value,
        "phone": phone,
        "phone_masked": pii.mask_phone(phone),
        "phone_digest": pii.phone_digest(phone),
        "is_emergency_contact": True,
        "only_when_debtor_unreachable": True,
        "refused_contact": False,
        "refused_at": None,
        "notes": None,
    }


def _plan_case(
    seed: int, case: OpenCase, customer: CustomerPlan
) -> tuple[list[AttemptPlan], list[PromisePlan]]:
    """Up to six contacts on distinct days since the case opened, and the promises they got.

    The history is a small state machine: a promise pauses calls until its date (reminder SMS
    only), a kept promise ends the history, a cease request or a wrong number ends contact on
    that number, and the emergency contact is tried only while the debtor has not been reached.
    """
    rng = random.Random(f"{seed}/case/{case.case_no}")
    first_day = max(HISTORY_START, case.opened_on)
    days = (BUSINESS_DATE - first_day).days + 1
    most = 4 if case.dpd <= 30 else 6
    count = min(rng.choices(range(most + 1), weights=(1, 3, 4, 4, 3, 2, 2)[: most + 1])[0], days)
    dates = sorted(rng.sample(range(days), count))
    team = _working_team(case.dpd, case.overdue, customer.province.name)
    candidates = _collectors_for(team, customer.province.name)
    owner = rng.choice(candidates)
    will_cease = rng.random() < 0.03
    mobile = customer.mobile
    email = customer.contact_point(ContactKind.EMAIL)
    third_party = customer.third_parties[0] if customer.third_parties else None
    attempts: list[AttemptPlan] = []
    promises: list[PromisePlan] = []
    reached = False
    pending_until: date | None = None
    previous: Outcome | None = None
    for offset in dates:
        if mobile["ceased"] or mobile["invalid"]:
            break  # another case of the same debtor ended contact on this number
        day = first_day + timedelta(days=offset)
        started = local_instant(rng, day, customer.zone)
        collector = owner if rng.random() < 0.8 else rng.choice(candidates)
        number = len(attempts) + 1
        channel, party, direction = Channel.CALL, Party.DEBTOR, Direction.OUTBOUND
        point: str | None = mobile["contact_point_no"]
        tp_no: str | None = None
        sms_allowed = not (mobile["opted_out"] and started >= mobile["opted_out_at"])
        if pending_until is not None and day <= pending_until:
            if not sms_allowed:
                continue
            channel, outcome = Channel.SMS, Outcome.DELIVERED
        elif previous in (Outcome.VOICEMAIL, Outcome.THIRD_PARTY_REACHED) and rng.random() < 0.3:
            direction = Direction.INBOUND
            outcome = _weighted(rng, _INBOUND_OUTCOMES)
        elif (
            third_party is not None
            and not third_party["refused_contact"]
            and not reached
            and len(attempts) >= 2
            and rng.random() < 0.25
        ):
            party, point, tp_no = Party.EMERGENCY_CONTACT, None, third_party["third_party_no"]
            outcome = _weighted(rng, _THIRD_PARTY_OUTCOMES)
        else:
            roll = rng.random()
            if roll < 0.22 and sms_allowed:
                channel = Channel.SMS
                outcome = Outcome.DELIVERED if rng.random() < 0.94 else Outcome.UNDELIVERED
            elif roll < 0.27 and email is not None:
                channel, point = Channel.EMAIL, email["contact_point_no"]
                outcome = Outcome.DELIVERED if rng.random() < 0.95 else Outcome.UNDELIVERED
            else:
                outcome = _weighted(rng, _CALL_OUTCOMES)
        if outcome is Outcome.PROMISE_TO_PAY and case.overdue <= 0:
            outcome = Outcome.ALREADY_PAID
        if (
            will_cease
            and party is Party.DEBTOR
            and channel is Channel.CALL
            and outcome in CONNECTED_OUTCOMES
        ):
            outcome = Outcome.CEASE_REQUESTED
        connected = channel is Channel.CALL and outcome in CONNECTED_OUTCOMES
        attempt_no = f"{PREFIX}CA-{case.case_no}-{number}"
        attempts.append(
            AttemptPlan(
                row={
                    "attempt_no": attempt_no,
                    "case_id": case.case_id,
                    "customer_id": case.customer_id,
                    "channel": channel.value,
                    "party": party.value,
                    "direction": direction.value,
                    "started_at": started,
                    "local_timezone": customer.province.timezone,
                    "duration_seconds": _call_seconds(rng, outcome) if connected else 0,
                    "outcome": outcome.value,
                    "notes": rng.choice(CALL_NOTES[outcome]) if outcome in CALL_NOTES else None,
                },
                contact_point_no=point,
                third_party_no=tp_no,
                collector_code=collector,
            )
        )
        previous = outcome
        if (
            party is Party.DEBTOR
            and outcome in CONNECTED_OUTCOMES
            and outcome is not Outcome.WRONG_NUMBER
        ):
            reached = True
        if outcome is Outcome.THIRD_PARTY_REFUSED and third_party is not None:
            third_party["refused_contact"] = True
            third_party["refused_at"] = started
        if outcome is Outcome.CEASE_REQUESTED:
            mobile["ceased"] = True
            mobile["ceased_at"] = started
            break
        if outcome is Outcome.WRONG_NUMBER:
            mobile["invalid"] = True
            break
        if outcome is Outcome.PROMISE_TO_PAY:
            promise = _promise(rng, case, attempts[-1], len(promises) + 1, started, customer.zone)
            promises.append(promise)
            attempts[-1].row["notes"] = _promise_note(rng, promise)
            if promise.row["status"] == PromiseStatus.KEPT.value and not promise.partial:
                break  # paid in full: nothing left to chase
            pending_until = promise.row["promised_for"]
    return attempts, promises


def _promise_note(rng: random.Random, promise: PromisePlan) -> str:
    opening = rng.choice(PROMISE_NOTES["part" if promise.partial else "full"])
    row = promise.row
    return f"{opening}；承诺{row['promised_for']:%m月%d日}前还款{row['amount']:.0f}元"


def _call_seconds(rng: random.Random, outcome: Outcome) -> int:
    if outcome in (Outcome.WRONG_NUMBER, Outcome.THIRD_PARTY_REFUSED):
        return rng.randint(15, 60)
    return rng.randint(60, 480)


def _promise(
    rng: random.Random,
    case: OpenCase,
    attempt: AttemptPlan,
    number: int,
    started: datetime,
    zone: ZoneInfo,
) -> PromisePlan:
    """A promise of at most the overdue amount, a few days out, resolved if its date has passed."""
    made_on = started.astimezone(zone).date()
    promised_for = made_on + timedelta(days=rng.randint(1, 10))
    if rng.random() < 0.55:
        amount = case.overdue
    else:
        share = Decimal(rng.randint(30, 80)) / 100
        amount = max((case.overdue * share).quantize(Decimal(1), ROUND_DOWN), Decimal(1))
        amount = min(amount, case.overdue)
    status, amount_paid, resolved_on = PromiseStatus.PENDING, Decimal(0), None
    if promised_for < BUSINESS_DATE:
        status = _weighted(rng, PROMISE_RESOLUTION)
        if status is PromiseStatus.PARTLY_KEPT and amount < 2:
            status = PromiseStatus.KEPT
        if status is PromiseStatus.KEPT:
            amount_paid = amount
            resolved_on = _day_between(rng, made_on + timedelta(days=1), promised_for)
        elif status is PromiseStatus.PARTLY_KEPT:
            share = Decimal(rng.randint(10, 90)) / 100
            amount_paid = min(
                max((amount * share).quantize(Decimal(1), ROUND_DOWN), Decimal(1)),
                amount - 1,
            )
            resolved_on = promised_for
        else:
            resolved_on = promised_for + timedelta(days=1)
    return PromisePlan(
        row={
            "promise_no": f"{PREFIX}PTP-{case.case_no}-{number}",
            "case_id": case.case_id,
            "amount": amount,
            "promised_for": promised_for,
            "status": status.value,
            "amount_paid": amount_paid,
            "resolved_on": resolved_on,
        },
        attempt_no=attempt.row["attempt_no"],
        collector_code=attempt.collector_code,
        partial=amount < case.overdue,
    )


# --- removing what another seed generated -------------------------------------------------


def _remember_seed(session: Session, seed: int) -> None:
    setting = session.get(SystemSetting, SEED_SETTING)
    if setting is None:
        session.add(SystemSetting(key=SEED_SETTING, value=str(seed)))
    elif setting.value != str(seed):
        setting.value = str(seed)


def _forget_other_seed(session: Session, seed: int, report: DemoReport) -> None:
    """Before building with a new seed, delete the contact rows the previous seed generated.

    Removing them up front, children first, keeps each delete's foreign-key check cheap (the
    reference columns have no index, so SQLite scans the referring table per deleted row) and
    leaves no history of the old seed on cases closed since. Rows that non-demo data refers to
    are kept.
    """
    setting = session.get(SystemSetting, SEED_SETTING)
    if setting is None or setting.value == str(seed):
        return
    promise, attempt = PromiseToPay.__table__, ContactAttempt.__table__
    steps: tuple[tuple[str, Table, str, Column[Any] | None], ...] = (
        ("promise_to_pay", promise, "promise_no", None),
        ("contact_attempt", attempt, "attempt_no", promise.c.contact_attempt_id),
        (
            "third_party_contact",
            ThirdPartyContact.__table__,
            "third_party_no",
            attempt.c.third_party_contact_id,
        ),
        ("contact_point", ContactPoint.__table__, "contact_point_no", attempt.c.contact_point_id),
    )
    for name, table, key, referrer in steps:
        statement = delete(table).where(table.c[key].startswith(PREFIX))
        if referrer is not None:
            still_used = select(referrer).where(referrer.is_not(None))
            statement = statement.where(table.c.id.not_in(still_used))
        report.count(name).removed += session.execute(statement).rowcount


def _remove_stale(
    session: Session,
    report: DemoReport,
    customer_ids: list[int],
    case_ids: list[int],
    plans: dict[int, CustomerPlan],
    attempts: list[AttemptPlan],
    promises: list[PromisePlan],
) -> None:
    """Delete ``DEMO-`` rows of these customers and open cases that this seed did not produce.

    A row something else still refers to is kept (e.g. a contact point used by the history of
    a case closed since), so removal never breaks a reference.
    """
    wanted_promises = {p.row["promise_no"] for p in promises}
    wanted_attempts = {a.row["attempt_no"] for a in attempts}
    wanted_parties = {tp["third_party_no"] for p in plans.values() for tp in p.third_parties}
    wanted_points = {cp["contact_point_no"] for p in plans.values() for cp in p.contact_points}
    promise, attempt = PromiseToPay.__table__, ContactAttempt.__table__
    party, point = ThirdPartyContact.__table__, ContactPoint.__table__
    steps: list[tuple[str, Table, str, str, list[int], set[str], Column[Any] | None]] = [
        ("promise_to_pay", promise, "promise_no", "case_id", case_ids, wanted_promises, None),
        (
            "contact_attempt",
            attempt,
            "attempt_no",
            "case_id",
            case_ids,
            wanted_attempts,
            promise.c.contact_attempt_id,
        ),
        (
            "third_party_contact",
            party,
            "third_party_no",
            "customer_id",
            customer_ids,
            wanted_parties,
            attempt.c.third_party_contact_id,
        ),
        (
            "contact_point",
            point,
            "contact_point_no",
            "customer_id",
            customer_ids,
            wanted_points,
            attempt.c.contact_point_id,
        ),
    ]
    for name, table, key, owner, owners, wanted, referrer in steps:
        if not owners:
            continue
        found = session.execute(
            select(table.c.id, table.c[key]).where(
                key_in(session, table.c[owner], owners), table.c[key].startswith(PREFIX)
            )
        ).all()
        stale = [row_id for row_id, external in found if external not in wanted]
        if stale and referrer is not None:
            # One pass over the referring table per chunk: its reference columns have no index.
            used = set(session.scalars(select(referrer).where(key_in(session, referrer, stale))))
            stale = [row_id for row_id in stale if row_id not in used]
        if stale:
            session.execute(delete(table).where(key_in(session, table.c.id, stale)))
            report.count(name).removed += len(stale)
