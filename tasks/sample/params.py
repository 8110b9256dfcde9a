"""Parameters of the sample data's purchase process, and the ground truth a generated dataset records.

The generator knows the truth it simulated from (BG/NBD and Gamma-Gamma parameters, the injected
anomalies, the per-campaign funnel rates); analytics tests compare what they recover with it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BgNbdParams(BaseModel):
    """BG/NBD: purchase rate ``lambda ~ Gamma(shape r, rate alpha)``, dropout ``p ~ Beta(a, b)``; time in days."""

    model_config = ConfigDict(frozen=True)

    r: float = Field(0.25, gt=0, description="Shape of the Gamma prior of the purchase rate.")
    alpha: float = Field(12.0, gt=0, description="Rate of the Gamma prior of the purchase rate (days).")
    a: float = Field(0.8, gt=0, description="First shape of the Beta prior of the dropout probability.")
    b: float = Field(2.5, gt=0, description="Second shape of the Beta prior of the dropout probability.")


class GammaGammaParams(BaseModel):
    """Gamma-Gamma spend: ``nu ~ Gamma(shape q, rate gamma)``, each order value ``~ Gamma(shape p, rate nu)``."""

    model_config = ConfigDict(frozen=True)

    p: float = Field(6.0, gt=0, description="Shape of an order value given the customer's nu.")
    q: float = Field(4.0, gt=0, description="Shape of the Gamma prior of nu.")
    gamma: float = Field(40.0, gt=0, description="Rate of the Gamma prior of nu.")

    @property
    def mean_order_value(self) -> float:
        """The population mean order value, ``p * gamma / (q - 1)`` (infinite when ``q <= 1``)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")


class FunnelRates(BaseModel):
    """The ranges a campaign's funnel rates are drawn from, per channel, with their denominators."""

    deliver: tuple[float, float] = Field(description="Deliveries as a share of sends.")
    open: tuple[float, float] | None = Field(description="Unique opens as a share of deliveries.")
    click: tuple[float, float] = Field(description="Unique clicks as a share of deliveries.")
    convert: tuple[float, float] = Field(description="Conversions as a share of clicks.")
    unsubscribe: tuple[float, float] = Field(description="Unsubscribes as a share of deliveries.")
    complaint: tuple[float, float] = Field(description="Complaints as a share of deliveries.")


class CampaignTruth(BaseModel):
    """The rates one campaign's funnel was drawn with."""

    campaign_id: int
    name: str
    channel: str
    audience: int
    send_day: date
    asset_id: int | None
    deliver_rate: float
    open_rate: float
    click_rate: float
    convert_rate: float


class NearDuplicate(BaseModel):
    """An asset made from another by a small change (resize, recompression, recolouring)."""

    original_asset_id: int
    duplicate_asset_id: int
    transform: str


class GroundTruth(BaseModel):
    """Everything the generator decided that analytics should be able to find again."""

    seed: int
    start: date
    end: date
    contacts: int
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    time_unit: str = "days"
    funnel_rates: dict[str, FunnelRates]
    weekday_weights: list[float] = Field(description="Relative volume Monday..Sunday.")
    anomaly_day: date = Field(description="The day email bounces spike.")
    bounce_multiplier: float
    anomaly_day_bounces: int
    median_daily_bounces: float
    broken_campaign_id: int = Field(description="Email campaign with deliveries but no opens or clicks.")
    broken_campaign_name: str
    campaigns: list[CampaignTruth]
    asset_quality: dict[int, float] = Field(description="Asset id -> quality in [0, 1] (raises click rate).")
    near_duplicates: list[NearDuplicate]
    customers: int = Field(description="Contacts with at least one order.")
    counts: dict[str, int]

    def write(self, path: Path) -> Path:
        """Write the truth as JSON (atomically: temporary file, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.inprogress")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> GroundTruth:
        """Read a truth file written by :meth:`write`."""
        return cls.model_validate_json(path.read_text())


class DatasetSummary(BaseModel):
    """What ``generate_dataset`` wrote: sizes, where, and how long each stage took."""

    seed: int
    start: date
    end: date
    days: int
    contacts: int
    companies: int
    campaigns: int
    assets: int
    events: int
    events_by_type: dict[str, int]
    orders: int
    ad_spend_rows: int
    partitions: dict[str, int]
    truth_path: str
    assets_dir: str
    seconds: dict[str, float]
    truth: GroundTruth

    def counts(self) -> dict[str, Any]:
        """The headline counts, for tables and artifacts."""
        return {
            "contacts": self.contacts,
            "companies": self.companies,
            "campaigns": self.campaigns,
            "assets": self.assets,
            "events": self.events,
            "orders": self.orders,
            "ad_spend rows": self.ad_spend_rows,
            **{f"events: {k}": v for k, v in sorted(self.events_by_type.items())},
        }
