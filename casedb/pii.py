"""Personal data: masking for display and keyed digests for exact search.

ID and phone numbers are kept in full only where a contact must be placed; lists, search results
and exports show the masked form, and search compares digests so no index holds the number.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import config

_NON_DIGITS = re.compile(r"[^0-9Xx]")


def normalise_phone(number: str) -> str:
    """Digits only, with a leading +86/0086 dropped so 13812345678 and +86 138 1234 5678 match."""
    digits = re.sub(r"\D", "", number)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def normalise_id_number(number: str) -> str:
    return _NON_DIGITS.sub("", number).upper()


def mask_phone(number: str) -> str:
    """``138****5678``: the carrier prefix and last four digits, nothing in between."""
    digits = normalise_phone(number)
    if len(digits) <= 4:
        return "*" * len(digits)
    head = digits[:3] if len(digits) >= 10 else ""
    return head + "*" * (len(digits) - len(head) - 4) + digits[-4:]


def mask_id_number(number: str) -> str:
    """``110101********1234``: the region code and the last four characters."""
    value = normalise_id_number(number)
    if len(value) <= 10:
        return "*" * max(len(value) - 2, 0) + value[-2:]
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    return (name[:1] + "***@" + domain) if domain else "***"


def digest(kind: str, normalised: str) -> str:
    """Keyed, kind-separated digest used as the search index of a PII value."""
    key = config.PII_DIGEST_KEY.encode()
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()[:40]


def phone_digest(number: str) -> str:
    return digest("phone", normalise_phone(number))


def id_number_digest(number: str) -> str:
    return digest("id", normalise_id_number(number))
