"""Steps of a chain of subflows: a step that had nothing to work with ends ``Skipped``, not ``Completed``.

A step flow that lacks its configuration (no Stripe key, no ad data, an empty media library)
returns :func:`skipped`: a Prefect ``Completed`` state named ``Skipped`` whose message is the
reason, so the UI's run list shows it apart from runs that did their work, and a log line says
why. The parent runs each step with ``return_state=True`` (:func:`run_step`), so one failed step
is reported beside the others instead of ending the chain, and publishes one markdown table of
what each step did, skipped or failed, with links to each subflow's run and artifacts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.settings import get_current_settings
from prefect.states import Completed, Failed, State

from aicmo.flows.ads import escape_markdown
from aicmo.prefect_env import without_heartbeats

SKIPPED = "Skipped"


def skipped(reason: str, result: dict[str, Any] | None = None) -> Any:
    """The final state of a step flow that did nothing for lack of configuration or input.

    Its result is ``result`` plus ``{"skipped": reason}``, so a caller of the plain flow sees why.
    Typed ``Any`` so that the flow keeps its plain return type: Prefect hands a caller that did not
    ask for the state the state's data, the dict.
    """
    get_run_logger().warning("skipped: %s", reason)
    return Completed(name=SKIPPED, message=reason, data={**(result or {}), "skipped": reason})


def ended_failed(exc: Exception) -> Any:
    """The final state of a flow that failed for a reason the user can act on, already logged as such.

    The run ends failed with the exception's one line as its message and no traceback in the log;
    a caller of the plain flow gets ``exc`` raised. Typed ``Any`` for the reason :func:`skipped` is.
    """
    return Failed(message=str(exc), data=exc)


@dataclass
class StepOutcome:
    """How one step of a chain ended and what it did."""

    step: str
    state: str  # the subflow's state name: Completed, Skipped, Failed, Crashed, ...
    did: str
    why: str = ""
    flow_run_id: UUID | None = None
    result: dict[str, Any] = field(default_factory=dict)
    artifacts: list[tuple[str, UUID]] = field(default_factory=list)  # (key or description, id)

    @property
    def ok(self) -> bool:
        """Completed or skipped (a skip is not a failure)."""
        return self.state in ("Completed", SKIPPED)

    def row(self) -> dict[str, Any]:
        """A plain row (the CLI's and the demo's tables)."""
        return {"step": self.step, "state": self.state, "did": self.did, "why": self.why}


@contextmanager
def in_parent_process() -> Iterator[None]:
    """Run the subflows called inside without heartbeats of their own.

    A subflow called in-process lives and dies with its parent run, whose heartbeat already tells
    the server whether they are alive. Its own heartbeat thread would cost up to a second at its end
    (Prefect's thread sleeps in one-second steps before it sees the stop): about 1.2 s of each
    0.1 s subflow run here, which is most of what the chain's steps as subflows cost.
    """
    with without_heartbeats():
        yield


def run_step(
    step: str, call: Callable[[], State[Any]], describe: Callable[[dict[str, Any]], str]
) -> StepOutcome:
    """Run one step flow (``call`` passes ``return_state=True``) and say how it ended.

    A failed step is logged and reported, not raised: the parent decides what a failure means.
    """
    with in_parent_process():
        state = call()
    flow_run_id = state.state_details.flow_run_id
    if state.is_completed():
        value = state.result()
        result = value if isinstance(value, dict) else {"result": value}
        if state.name == SKIPPED:
            outcome = StepOutcome(step, SKIPPED, "nothing", state.message or "", flow_run_id, result)
        else:
            outcome = StepOutcome(step, "Completed", describe(result), "", flow_run_id, result)
    else:
        error = state.result(raise_on_failure=False)
        why = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else state.message
        outcome = StepOutcome(step, state.name or "Failed", "", why or "", flow_run_id, {"error": why})
        get_run_logger().error("step %s ended %s: %s", step, outcome.state, why)
    if flow_run_id is not None:
        outcome.artifacts = artifacts_of(flow_run_id)
    return outcome


def artifacts_of(flow_run_id: UUID) -> list[tuple[str, UUID]]:
    """The (key or description, id) of each artifact a flow run published."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return [(a.key or (a.description or a.type or "artifact")[:40], a.id) for a in found]


def _ui_url() -> str | None:
    url = get_current_settings().ui_url
    return str(url).rstrip("/") if url else None


def _link(text: str, path: str, ui: str | None) -> str:
    return f"[{escape_markdown(text)}]({ui}/{path})" if ui else escape_markdown(text)


def summary_markdown(title: str, outcomes: list[StepOutcome]) -> str:
    """One table: each step, its state, what it did, what it skipped or why it failed, its links."""
    ui = _ui_url()
    lines = [
        f"# {escape_markdown(title)}",
        "",
        "| step | state | did | skipped or failed because | run and artifacts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for o in outcomes:
        links = []
        if o.flow_run_id is not None:
            links.append(_link(f"run {str(o.flow_run_id)[:8]}", f"runs/flow-run/{o.flow_run_id}", ui))
        links += [_link(key, f"artifacts/artifact/{aid}", ui) for key, aid in o.artifacts]
        lines.append(
            f"| {escape_markdown(o.step)} | **{escape_markdown(o.state)}** | {escape_markdown(o.did)} "
            f"| {escape_markdown(o.why)} | {', '.join(links)} |"
        )
    failed = [o.step for o in outcomes if not o.ok]
    skipped_steps = [o.step for o in outcomes if o.state == SKIPPED]
    lines += [
        "",
        f"{len(outcomes) - len(failed) - len(skipped_steps)} done, {len(skipped_steps)} skipped, "
        f"{len(failed)} failed" + (f": {escape_markdown(', '.join(failed))}" if failed else "") + ".",
    ]
    if not ui:
        lines += ["", "Set PREFECT_UI_URL to turn the run and artifact names into links."]
    return "\n".join(lines)


def publish_summary(key: str, title: str, outcomes: list[StepOutcome]) -> None:
    """The parent run's one summary artifact."""
    create_markdown_artifact(
        key=key, markdown=summary_markdown(title, outcomes), description=f"{title}: each step's outcome"
    )
