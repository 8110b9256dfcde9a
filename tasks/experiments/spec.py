"""An experiment's part of a campaign definition: variants, the metric, the effect to detect, a holdout.

Example (inside a campaign definition)::

    experiment:
      channel: email                 # whose message varies (default: the campaign's first channel)
      variants:                      # 2-5; the first is the control
        - {name: A}
        - {name: B, message: {subject: "Last days: {{ contact.first_name }}"}}
        - {name: C, asset: 14, send_delay_h: 3}
      metric: click                  # open | click | conversion | revenue (per send)
      baseline: 0.08                 # the control's expected metric per send
      mde: 0.02                      # smallest difference worth finding (absolute, per send)
      alpha: 0.05                    # chance of a false winner, whatever the number of looks
      power: 0.8
      deadline_h: 72                 # no significant difference by then: send the default
      default: A                     # what goes out then (default: the control)
      holdout: 0.05                  # share of the audience that receives nothing (lift)
      stratify_by: tier              # variants balanced within tier | country | none

A variant's ``message`` overrides fields of the channel's message; ``asset`` replaces the attached
asset (approved assets only); ``send_delay_h`` holds its sends back. An experiment with no
variants keeps just the holdout.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

METRICS = ("open", "click", "conversion", "revenue")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variant(_Strict):
    """One version of the message: fields it overrides, its asset, its send delay."""

    name: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    message: dict[str, Any] = Field(default_factory=dict)
    asset: int | None = None
    send_delay_h: float = Field(0.0, ge=0, le=24 * 14)


class ExperimentSpec(_Strict):
    """What to test, on which metric, how surely, until when, and the holdout."""

    channel: str | None = None
    variants: list[Variant] = Field(default_factory=list)
    metric: Literal["open", "click", "conversion", "revenue"] = "click"
    baseline: float = Field(0.05, gt=0)
    mde: float = Field(0.02, gt=0)
    metric_sd: float | None = Field(None, gt=0)
    alpha: float = Field(0.05, gt=0, le=0.2)
    power: float = Field(0.8, ge=0.5, le=0.99)
    deadline_h: float = Field(72.0, gt=0, le=24 * 60)
    default: str | None = None
    holdout: float = Field(0.0, ge=0, le=0.5)
    stratify_by: Literal["tier", "country", "none"] = "tier"

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        n = len(self.variants)
        if n == 1 or n > 5:
            raise ValueError(f"variants: give 2 to 5 variants (got {n}), or none for a holdout only")
        if n == 0 and self.holdout == 0:
            raise ValueError("an experiment needs variants (2 to 5) or a holdout above 0")
        names = [v.name for v in self.variants]
        if len(set(names)) != n:
            raise ValueError("variants: two variants share a name")
        if self.default is not None and self.default not in names:
            raise ValueError(f"default: {self.default!r} is not a variant ({', '.join(names)})")
        if self.metric == "revenue":
            if self.metric_sd is None:
                raise ValueError(
                    "metric_sd: revenue per send needs its standard deviation to plan the sample"
                )
        elif self.baseline + self.mde >= 1:
            raise ValueError(
                f"baseline + mde must stay below 1 for a rate (got {self.baseline + self.mde:g})"
            )
        return self

    @property
    def default_index(self) -> int:
        """The variant sent when the test ends without a significant difference (the control unless set)."""
        names = [v.name for v in self.variants]
        return names.index(self.default) if self.default is not None else 0
