"""Teams and collectors: who works the cases, with which skills and how much capacity."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casedb.models.base import Base, Timestamps, external_id, name_text


class Team(Timestamps, Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = external_id()
    name: Mapped[str] = mapped_column(name_text())
    region: Mapped[str | None] = mapped_column(String(64))
    supervisor_username: Mapped[str | None] = mapped_column(String(64))
    # The collection agency the team belongs to; None: the lender's own staff. Reg F counts
    # calls per debt collector (each agency apart); CN caps count lender and agencies together.
    agency: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)

    # A team with collectors cannot be deleted (the foreign key refuses it); never orphan them.
    collectors: Mapped[list[Collector]] = relationship(back_populates="team", passive_deletes="all")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Collector(Timestamps, Base):
    __tablename__ = "collector"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = external_id()
    name: Mapped[str] = mapped_column(name_text())
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    # Skills such as "high_balance", "legal", "hardship"; matched by assignment rules.
    skills: Mapped[list[str]] = mapped_column(default=list)
    # Languages and dialects spoken, e.g. "zh", "yue", "en".
    languages: Mapped[list[str]] = mapped_column(default=list)
    # Regions (province codes) the collector may work; empty means any.
    regions: Mapped[list[str]] = mapped_column(default=list)
    # Open cases the collector can carry at once.
    capacity: Mapped[int] = mapped_column(default=200)
    active: Mapped[bool] = mapped_column(default=True)

    team: Mapped[Team | None] = relationship(back_populates="collectors")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
