"""Repayment propensity (还款可能性): trained model versions and the latest score of each case.

``propensity_model`` keeps every model version ever trained, never edited: the method and seed,
when it was trained and on data as of which day, the features it reads (and those left out for
want of data), the months it was trained, calibrated and tested on, its held-out metrics (AUC,
Brier score, calibration table ...) and the fitted estimator itself (joblib bytes with their
SHA-256). ``case_propensity`` holds the latest score of each case — the probability that the
debtor pays in the next period — with the model version that made it; a scoring run replaces
the scores of the cases it scores. The rules read it as the case fact ``repayment_propensity``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base
from casedb.types import utcnow


class PropensityModel(Base):
    """One trained model version and its held-out metrics."""

    __tablename__ = "propensity_model"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    # "logistic" or "gbm" (rules_service.propensity.METHODS), and the seed it was trained with.
    method: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int]
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    trained_by: Mapped[str] = mapped_column(String(64))
    # The business date when it was trained, and the last statement month it saw.
    data_as_of: Mapped[date]
    data_through: Mapped[date]
    # Feature names in the order the estimator reads them; those left out for want of data.
    features: Mapped[list[str]] = mapped_column(JSON)
    unused_features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"train": ["2005-04", ...], "calibration": "2005-08", "test": "2005-09"} and row counts.
    split: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"test": {"auc", "brier", "log_loss", "base_rate", "error_rate", "area_ratio",
    #  "calibration": [...]}, "train": {...}, "calibration": {...}}
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    estimator: Mapped[bytes] = mapped_column(LargeBinary)
    estimator_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(64))

    def __str__(self) -> str:
        return f"propensity v{self.version}"


class CasePropensity(Base):
    """The latest repayment-propensity score of a case, and the model version that made it."""

    __tablename__ = "case_propensity"
    __table_args__ = (Index(None, "model_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("propensity_model.id"))
    # Probability (0-1) that the debtor pays in the next period.
    score: Mapped[float] = mapped_column(Float)
    # The statement month (or business date) the features were read as of.
    as_of: Mapped[date]
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
