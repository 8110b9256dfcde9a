"""The ad-report formats the importer reads: which header names mean which normalized field.

Three formats:

- ``google_ads``: a report downloaded from the Google Ads UI (CSV or "CSV for Excel"), columns in
  the UI's wording ("Day", "Campaign", "Ad group", "Impr.", "Clicks", "Cost", "Conv.",
  "Conv. value", "Currency code", "Customer ID", ...).
- ``meta``: an export from Meta Ads Manager ("Reporting starts", "Reporting ends",
  "Campaign name", "Ad set name", "Ad name", "Impressions", "Link clicks",
  "Amount spent (USD)", "Purchases", "Purchases conversion value", "Account name", ...).
- ``generic``: the documented CSV for any other platform, one row per day and ad::

      date,platform,account,campaign,ad_set,ad,impressions,clicks,spend,conversions,conversion_value,currency
      2026-11-03,linkedin,5551234,B2B Leads,CFOs,Carousel A,12000,84,402.10,3,2400.00,EUR

  ``date`` is YYYY-MM-DD (or any style the other formats accept), numbers use a decimal point;
  ``date``, ``platform``, ``campaign``, ``spend`` and ``currency`` are required, the rest may be
  left out (ad set and ad default to empty, counts to zero).

Columns a format knows but does not store (rates the report recomputes, statuses, ids) are
``derived`` and pass silently; any other column is reported once as unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Normalized fields of one report row, before currency conversion.
TEXT_FIELDS = ("platform", "account", "campaign", "ad_set", "ad", "currency")
COUNT_FIELDS = ("impressions", "clicks")
MONEY_FIELDS = ("spend", "conversion_value")
FIELDS = ("date", *TEXT_FIELDS, *COUNT_FIELDS, "conversions", *MONEY_FIELDS)

META_SPEND = re.compile(r"^Amount spent \(([A-Za-z]{3})\)$")
_CURRENCY_SUFFIX = re.compile(r" \([A-Z]{3}\)$")


@dataclass(frozen=True)
class ReportFormat:
    """How one platform's export names the normalized fields."""

    name: str
    label: str
    platform: str | None  # fixed platform, or None when a column says it (generic)
    columns: dict[str, tuple[str, ...]]  # field -> header names accepted, in preference order
    required: tuple[str, ...]
    derived: frozenset[str]

    def header_for(self, field: str, headers: list[str]) -> str | None:
        """The header that carries ``field`` in this file, if any."""
        if self.name == "meta" and field == "spend":
            return next((h for h in headers if META_SPEND.match(h)), None)
        return next((name for name in self.columns.get(field, ()) if name in headers), None)

    def signature(self, headers: list[str]) -> int:
        """How many of this format's header names a candidate header line contains."""
        known = {name for names in self.columns.values() for name in names}
        score = sum(1 for h in headers if h in known)
        if self.name == "meta":
            score += sum(1 for h in headers if META_SPEND.match(h))
        return score

    def is_derived(self, header: str) -> bool:
        """A known column that the importer does not need (a rate, a status, an id)."""
        return header in self.derived or _CURRENCY_SUFFIX.sub("", header) in self.derived


GOOGLE_ADS = ReportFormat(
    name="google_ads",
    label="Google Ads report",
    platform="google_ads",
    columns={
        "date": ("Day", "Date"),
        "account": ("Customer ID", "Account", "Account name"),
        "campaign": ("Campaign",),
        "ad_set": ("Ad group",),
        "ad": ("Ad name", "Ad ID", "Ad"),
        "currency": ("Currency code", "Currency"),
        "impressions": ("Impr.", "Impressions"),
        "clicks": ("Clicks",),
        "spend": ("Cost",),
        "conversions": ("Conv.", "Conversions"),
        "conversion_value": ("Conv. value", "Conversion value", "Total conv. value"),
    },
    required=("date", "campaign", "impressions", "clicks", "spend"),
    derived=frozenset(
        {
            "CTR",
            "Avg. CPC",
            "Avg. CPM",
            "Avg. cost",
            "Cost / conv.",
            "Conv. rate",
            "Conv. value / cost",
            "Value / conv.",
            "Interactions",
            "Interaction rate",
            "Search impr. share",
            "Search lost IS (budget)",
            "Search lost IS (rank)",
            "Impr. (Top) %",
            "Impr. (Abs. Top) %",
            "Campaign status",
            "Campaign state",
            "Campaign type",
            "Campaign ID",
            "Ad group status",
            "Ad group state",
            "Ad group ID",
            "Status",
            "Budget",
            "Budget name",
            "Bid strategy type",
            "Bid strategy",
            "Optimization score",
            "View-through conv.",
            "All conv.",
            "All conv. value",
        }
    ),
)

META = ReportFormat(
    name="meta",
    label="Meta Ads Manager export",
    platform="meta",
    columns={
        "date": ("Day", "Reporting starts"),
        "reporting_ends": ("Reporting ends",),
        "account": ("Account name", "Account ID"),
        "campaign": ("Campaign name",),
        "ad_set": ("Ad set name",),
        "ad": ("Ad name",),
        "currency": ("Currency",),
        "impressions": ("Impressions",),
        "clicks": ("Link clicks", "Clicks (all)"),
        "spend": (),  # "Amount spent (USD)": matched by META_SPEND, currency from the parentheses
        "conversions": ("Purchases", "Website purchases", "Results"),
        "conversion_value": ("Purchases conversion value", "Website purchases conversion value"),
    },
    required=("date", "campaign", "impressions", "spend"),
    derived=frozenset(
        {
            "Reach",
            "Frequency",
            "Results",
            "Result indicator",
            "Result type",
            "Cost per results",
            "Cost per result",
            "CPM (cost per 1,000 impressions)",
            "CPC (cost per link click)",
            "CPC (all)",
            "CTR (link click-through rate)",
            "CTR (all)",
            "Cost per purchase",
            "Purchase ROAS (return on ad spend)",
            "Delivery",
            "Delivery status",
            "Delivery level",
            "Starts",
            "Ends",
            "Attribution setting",
            "Bid",
            "Bid type",
            "Budget",
            "Budget type",
            "Ad set budget",
            "Ad set budget type",
            "Campaign ID",
            "Ad set ID",
            "Ad ID",
            "Account ID",
            "Account name",
            "Clicks (all)",
            "Link clicks",
        }
    ),
)

GENERIC = ReportFormat(
    name="generic",
    label="generic ad report",
    platform=None,
    columns={field: (field,) for field in FIELDS},
    required=("date", "platform", "campaign", "spend", "currency"),
    derived=frozenset(),
)

FORMATS = (GOOGLE_ADS, META, GENERIC)
MIN_SIGNATURE = 3  # header names a line must share with a format to be taken as its header
