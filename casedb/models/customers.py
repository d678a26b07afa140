"""Debtors, the ways to reach them, and the third parties they named."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from casedb import pii
from casedb.models.base import Base, Timestamps, external_id, name_text, str_enum


class ContactKind(enum.StrEnum):
    MOBILE = "mobile"
    HOME_PHONE = "home_phone"
    WORK_PHONE = "work_phone"
    EMAIL = "email"
    HOME_ADDRESS = "home_address"
    WORK_ADDRESS = "work_address"


PHONE_KINDS = {ContactKind.MOBILE, ContactKind.HOME_PHONE, ContactKind.WORK_PHONE}


class Consent(enum.StrEnum):
    """Whether the debtor agreed to be contacted this way (e.g. outside quiet hours)."""

    UNKNOWN = "unknown"
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class Relationship(enum.StrEnum):
    SPOUSE = "spouse"
    PARENT = "parent"
    CHILD = "child"
    SIBLING = "sibling"
    RELATIVE = "relative"
    FRIEND = "friend"
    COLLEAGUE = "colleague"
    EMPLOYER = "employer"
    ATTORNEY = "attorney"
    OTHER = "other"


def masked_contact_value(kind: ContactKind | str, value: str) -> tuple[str, str | None]:
    """The display form of a contact value and, for phones and e-mails, its search digest."""
    kind = ContactKind(kind)
    if kind in PHONE_KINDS:
        return pii.mask_phone(value), pii.phone_digest(value)
    if kind is ContactKind.EMAIL:
        return pii.mask_email(value), pii.digest("email", value.strip().lower())
    return value[:6] + "…" if len(value) > 6 else value, None


class Customer(Timestamps, Base):
    """A debtor. ``id_number`` is kept for contact placement only; show ``id_number_masked``."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_no: Mapped[str] = external_id()
    name: Mapped[str] = mapped_column(name_text(), index=True)
    gender: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None]
    age: Mapped[int | None]
    education: Mapped[str | None] = mapped_column(String(32))
    marital_status: Mapped[str | None] = mapped_column(String(32))
    id_type: Mapped[str | None] = mapped_column(String(16))
    id_number: Mapped[str | None] = mapped_column(String(64))
    id_number_masked: Mapped[str | None] = mapped_column(String(64))
    id_number_digest: Mapped[str | None] = mapped_column(String(40), index=True)
    # Province / state code the debtor lives in; picks regional compliance overrides.
    region: Mapped[str | None] = mapped_column(String(32), index=True)
    city: Mapped[str | None] = mapped_column(String(64))
    # IANA time zone of the debtor, for contact windows in local time.
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    risk_level: Mapped[str | None] = mapped_column(String(16), index=True)
    # Where the record came from ("core", "uci", "demo", ...); generated data says so.
    source: Mapped[str] = mapped_column(String(32), default="core")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    contact_points: Mapped[list[ContactPoint]] = relationship(back_populates="customer")
    third_party_contacts: Mapped[list[ThirdPartyContact]] = relationship(back_populates="customer")

    @validates("id_number")
    def _mask_id_number(self, _key: str, value: str | None) -> str | None:
        self.id_number_masked = pii.mask_id_number(value) if value else None
        self.id_number_digest = pii.id_number_digest(value) if value else None
        return value

    def __str__(self) -> str:
        return f"{self.name} ({self.customer_no})"


class ContactPoint(Timestamps, Base):
    """A phone number, e-mail or address of the debtor, with the permissions that go with it."""

    __tablename__ = "contact_point"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_point_no: Mapped[str] = external_id()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind))
    value: Mapped[str] = mapped_column(String(255))
    value_masked: Mapped[str] = mapped_column(String(255))
    value_digest: Mapped[str | None] = mapped_column(String(40), index=True)
    is_primary: Mapped[bool] = mapped_column(default=False)
    consent: Mapped[Consent] = mapped_column(str_enum(Consent), default=Consent.UNKNOWN)
    consent_at: Mapped[datetime | None]
    # The debtor asked in writing that collection contact stop (cease request).
    ceased: Mapped[bool] = mapped_column(default=False)
    ceased_at: Mapped[datetime | None]
    # The debtor opted out of this channel (e.g. "no SMS to this number").
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None]
    # Number not in service / address unknown.
    invalid: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(32))

    customer: Mapped[Customer] = relationship(back_populates="contact_points")

    @validates("value")
    def _mask_value(self, _key: str, value: str) -> str:
        self.value_masked, self.value_digest = masked_contact_value(self.kind, value)
        return value


class ThirdPartyContact(Timestamps, Base):
    """Someone the debtor named (emergency contact, relative, employer, attorney).

    Under the CN guidelines such a person may be contacted only when the debtor cannot be reached,
    must never be told of the debt, and never again after refusing.
    """

    __tablename__ = "third_party_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    third_party_no: Mapped[str] = external_id()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(name_text())
    relationship_to_debtor: Mapped[Relationship] = mapped_column(str_enum(Relationship))
    phone: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(64))
    phone_digest: Mapped[str | None] = mapped_column(String(40), index=True)
    is_emergency_contact: Mapped[bool] = mapped_column(default=True)
    # Only when the debtor is unreachable (CN); a US attorney represents the consumer instead.
    only_when_debtor_unreachable: Mapped[bool] = mapped_column(default=True)
    refused_contact: Mapped[bool] = mapped_column(default=False)
    refused_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship(back_populates="third_party_contacts")

    @validates("phone")
    def _mask_phone(self, _key: str, value: str | None) -> str | None:
        self.phone_masked = pii.mask_phone(value) if value else None
        self.phone_digest = pii.phone_digest(value) if value else None
        return value
