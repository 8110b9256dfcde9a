"""Machine opens and scanner clicks: flagged, kept, and left out of the human counts.

Apple Mail Privacy Protection loads every image of a message through Apple's proxies when the
message arrives, whether or not anyone reads it; corporate link scanners (Microsoft Defender Safe
Links, Mimecast, Proofpoint, Barracuda...) follow every link of a message before the person sees
it. Both would inflate opens and clicks. An event is a machine's when:

- an open comes from Apple's network (17.0.0.0/8, where the MPP proxies fetch from) or with the
  bare ``Mozilla/5.0`` user agent the MPP proxy sends;
- an open or click has the user agent of a known prefetcher, scanner or HTTP library;
- a click comes within ``scanner_window_s`` of the message being sent (the token's issue time),
  faster than a person reads;
- several different links of one message are clicked within ``scanner_window_s`` of each other
  (:func:`flag_link_bursts`, over each flushed batch).

Image proxies that fetch when a person opens the message (Gmail's ``GoogleImageProxy``, Yahoo's)
are real opens: classed ``proxy``, not machine.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache

import polars as pl

APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
APPLE_MPP_AGENT = "Mozilla/5.0"
_SCANNER = re.compile(
    r"barracuda|mimecast|proofpoint|safelinks|bing-?preview|microsoft office|ms-office|symantec|"
    r"trendmicro|forcepoint|fireeye|sophos|zscaler|cisco|ironport|headless|phantomjs|slurp|"
    r"bot\b|crawler|spider|python-requests|python-httpx|aiohttp|curl/|wget/|go-http-client|"
    r"java/|okhttp|libwww|scrapy|facebookexternalhit|slackbot|linkpreview",
    re.IGNORECASE,
)
_HUMAN_PROXY = re.compile(r"googleimageproxy|yahoomailproxy|ymailproxy", re.IGNORECASE)
_MAIL_CLIENT = re.compile(r"thunderbird|outlook|applewebkit.*mobile/|mail/", re.IGNORECASE)


@lru_cache(maxsize=65_536)
def _apple_ip(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in APPLE_NETWORKS)


@lru_cache(maxsize=8_192)
def agent_class(user_agent: str | None) -> str:
    """A coarse class of a user agent: scanner, proxy, mail_client, browser or unknown (cached: agents repeat)."""
    if not user_agent:
        return "unknown"
    if _SCANNER.search(user_agent):
        return "scanner"
    if _HUMAN_PROXY.search(user_agent):
        return "proxy"
    if _MAIL_CLIENT.search(user_agent):
        return "mail_client"
    return "browser"


def classify_open(user_agent: str | None, ip: str | None) -> tuple[bool, str]:
    """``(is_machine, user_agent_class)`` of a pixel load."""
    if _apple_ip(ip) or (user_agent or "").strip() == APPLE_MPP_AGENT:
        return True, "apple_mpp"
    cls = agent_class(user_agent)
    return cls == "scanner", cls


def classify_click(
    user_agent: str | None, sent_at: datetime | None, clicked_at: datetime, window_s: float
) -> tuple[bool, str]:
    """``(is_machine, user_agent_class)`` of a click."""
    cls = agent_class(user_agent)
    if cls == "scanner":
        return True, cls
    if sent_at is not None and (clicked_at - sent_at).total_seconds() < window_s:
        return True, "scanner"
    return False, cls


def flag_link_bursts(events: pl.DataFrame, window_s: float) -> pl.DataFrame:
    """Flag clicks of one message that hit two or more different links within ``window_s``.

    A person clicks one link and reads; a scanner requests them all at once. Every click of such
    a burst is flagged (``is_machine`` true, class ``scanner``); other rows are left as they are.
    """
    if events.is_empty():
        return events
    window = pl.duration(microseconds=int(window_s * 1_000_000))
    keys = ["campaign_id", "contact_id"]
    clicks = pl.col("type") == "click"
    bursty = (
        events.filter(clicks & pl.col("url").is_not_null())
        .group_by(keys)
        .agg(
            (pl.col("url").n_unique() >= 2).alias("__many"),
            ((pl.col("ts").max() - pl.col("ts").min()) <= window).alias("__fast"),
        )
        .filter(pl.col("__many") & pl.col("__fast"))
        .select(*keys, pl.lit(True).alias("__burst"))
    )
    if bursty.is_empty():
        return events
    out = events.join(bursty, on=keys, how="left", nulls_equal=False, maintain_order="left")
    hit = clicks & pl.col("__burst").fill_null(False)
    return out.with_columns(
        pl.when(hit).then(True).otherwise(pl.col("is_machine")).alias("is_machine"),
        pl.when(hit).then(pl.lit("scanner")).otherwise(pl.col("user_agent_class")).alias("user_agent_class"),
    ).drop("__burst")
