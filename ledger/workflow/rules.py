"""The workflow's rules for one new step: the table, the pinned catalog and entitlement.

:func:`take_step` refuses what :func:`ledger.workflow.state.advance` (the replay of stored
steps) takes on trust: a step the table does not allow here, a body that is not the step's
actor, a ``received`` step the catalog or the organization registry does not allow
(:func:`check_received`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.catalog import CatalogItem
from ledger.catalog_limits import LegTimeLimit, item_limits
from ledger.envelope import Envelope
from ledger.errors import EnvelopeRejected, StepNotAllowed
from ledger.keys import NODE_OFFICER, CatalogVersions
from ledger.ratings.code import code_commitment_of_proof
from ledger.workflow.entitlement import Entitlement, NotEntitled
from ledger.workflow.fields import NODE_SIGNED_CHANNELS, check_body
from ledger.workflow.state import CaseState, advance
from ledger.workflow.table import RATING_STEP_TYPES, START


class BadRatingCode(EnvelopeRejected):
    """A node-signed rating whose code proof does not open the case's rating code."""

    reason = "bad_rating_code"


class ItemNotOpen(EnvelopeRejected):
    """The item cannot be received: pending national deployment, a ministry's system, a check."""

    reason = "item_not_open"


def catalog_item(catalogs: CatalogVersions, version: str, item_key: str) -> CatalogItem:
    """The item as the pinned catalog version has it, or the refusal naming the field."""
    catalog = catalogs.get(version)
    if catalog is None:
        raise EnvelopeRejected(
            f"catalog version {version} is not known to this ledger",
            reason="unknown_catalog_version",
            field="body.catalog_version",
        )
    for item in catalog.items:
        if item.item_key == item_key:
            return item
    raise EnvelopeRejected(
        f"catalog version {version[:12]}… of region {catalog.region} has no item {item_key}",
        reason="unknown_item",
        field="body.item",
    )


def check_received(
    envelope: Envelope,
    catalogs: CatalogVersions,
    entitlement: Entitlement,
    moment: int | None = None,
) -> None:
    """Refuse a ``received`` step the catalog or the organization registry does not allow.

    With ``moment`` (the receipt time), a new case must pin the catalog version current then:
    an amendment cannot be sidestepped by pinning an older version.
    """
    body = envelope.body
    item = catalog_item(catalogs, body["catalog_version"], body["item"])
    current = catalogs.current_at(item.region, moment) if moment is not None else None
    if current is not None and current != body["catalog_version"]:
        raise EnvelopeRejected(
            f"new cases pin the current catalog version {current}, not {body['catalog_version']}",
            reason="stale_catalog_version",
            field="body.catalog_version",
        )
    if item.region != entitlement.home_region:
        raise EnvelopeRejected(
            f"item {item.item_key} belongs to region {item.region}; a case lives in the ledger "
            "of the region whose body decides it",
            reason="wrong_ledger",
            field="body.item",
        )
    if item.status in ("pending", "national_system", "verify"):
        why = {
            "pending": "waits for a national deployment (待统一部署)",
            "national_system": "is handled in a ministry's national system",
            "verify": "is a certificate check, handled by the license module",
        }[item.status]
        raise ItemNotOpen(f"item {item.item_key} {item.national_name} {why}", field="body.item")
    channel = body["channel"]
    if channel not in item.channels:
        raise EnvelopeRejected(
            f"item {item.item_key} is not offered through {channel!r} (only "
            f"{', '.join(item.channels)})",
            reason="channel_not_offered",
            field="body.channel",
        )
    if body["coordination"] != item.coordination:
        raise EnvelopeRejected(
            f"item {item.item_key} is {item.coordination} in catalog version {item_version(body)}",
            reason="wrong_coordination",
            field="body.coordination",
        )
    origins = body.get("origin_bodies", [])
    if item.coordination == "joint" and not origins:
        raise EnvelopeRejected(
            f"item {item.item_key} is handled jointly (多地联办): name its origin bodies",
            reason="missing_origin",
            field="body.origin_bodies",
        )
    if item.coordination == "single" and origins:
        raise EnvelopeRejected(
            f"item {item.item_key} is not handled jointly",
            reason="unexpected_origin",
            field="body.origin_bodies",
        )
    if not body["jurisdiction"].startswith(entitlement.home_region[:2]):
        raise EnvelopeRejected(
            f"jurisdiction {body['jurisdiction']} is outside region {entitlement.home_region}",
            reason="wrong_jurisdiction",
            field="body.jurisdiction",
        )
    entitlement.check_handler(body["home_body"], item, body["jurisdiction"], "body.home_body")
    for n, origin in enumerate(origins):
        entitlement.check_origin(origin, item, f"body.origin_bodies[{n}]")
    if channel == "proxy":
        entitlement.check_window(envelope.body_id)
    elif envelope.body_id != body["home_body"]:
        raise NotEntitled(
            f"an {channel} case is received by its home body {body['home_body']}, not "
            f"{envelope.body_id}",
            field="actor.body",
        )


def item_version(body: Mapping[str, Any]) -> str:
    return f"{str(body.get('catalog_version', ''))[:12]}…"


def take_step(
    state: CaseState,
    envelope: Envelope,
    catalogs: CatalogVersions,
    entitlement: Entitlement,
    moment: int | None = None,
) -> CaseState:
    """The case state after ``envelope``, or the refusal naming the state, the steps allowed
    next and the field."""
    step = check_body(envelope.type, envelope.body)
    if envelope.officer_id == NODE_OFFICER and envelope.type != "rated":
        raise NotEntitled(
            f"officer id {NODE_OFFICER!r} is reserved for node-signed ratings",
            field="actor.officer",
        )
    if envelope.type in RATING_STEP_TYPES:
        return _take_rating_step(state, envelope, step)
    if state.state == START:
        state.transition(step)  # only ``received`` opens a case
        check_received(envelope, catalogs, entitlement, moment)
        return advance(state, envelope)
    if step == "corrected":
        target = envelope.body["target_seq"]
        if target >= envelope.seq or state.steps_by_body.get(target) != envelope.body_id:
            raise StepNotAllowed(
                f"a body corrects only its own earlier step; seq {target} was not taken by "
                f"{envelope.body_id}",
                field="body.target_seq",
            )
        return advance(state, envelope)
    transition = state.transition(step)
    bodies = state.actor_bodies(transition.actor)
    if envelope.body_id not in bodies:
        who = ", ".join(bodies) or "no body"
        raise NotEntitled(
            f"step {step!r} in state {state.state!r} is taken by the {transition.actor} body "
            f"({who}), not {envelope.body_id}",
            field="actor.body",
        )
    if step == "transferred":
        to_body = envelope.body["to_body"]
        if to_body == state.home_body:
            raise StepNotAllowed("a case is transferred to another body", field="body.to_body")
        item = catalog_item(catalogs, state.catalog_version, state.item)
        entitlement.check_handler(to_body, item, state.jurisdiction, "body.to_body")
    elif step == "extended":
        _check_extension(state, envelope, catalogs, entitlement)
    elif step.startswith("decided:") and state.coordination == "joint":
        waiting = [b for b in state.origin_bodies if b not in state.co_handled_by]
        if waiting:
            raise StepNotAllowed(
                "a joint case is decided after every origin body co-handled it; waiting for "
                f"{', '.join(waiting)}",
                field="type",
            )
    return advance(state, envelope)


def _take_rating_step(state: CaseState, envelope: Envelope, step: str) -> CaseState:
    """A rating (好差评) or a rectification step: the rating table, its actor and, for a rating
    the node signs, the slip's code (docs/envelope.md §5.5)."""
    transition = state.rating_transition(step)
    if envelope.type == "rated":
        _check_rater(state, envelope)
        return advance(state, envelope)
    bodies = state.actor_bodies(transition.actor)
    if envelope.body_id not in bodies:
        raise NotEntitled(
            f"step {step!r} in rating state {state.rating!r} is taken by the rated (home) body "
            f"{', '.join(bodies)}, not {envelope.body_id}",
            field="actor.body",
        )
    return advance(state, envelope)


def _check_rater(state: CaseState, envelope: Envelope) -> None:
    body = envelope.body
    node_signed = body["channel"] in NODE_SIGNED_CHANNELS
    if node_signed != (envelope.officer_id == NODE_OFFICER):
        raise NotEntitled(
            f"a {body['channel']!r} rating is signed by "
            + (
                f"the node (officer {NODE_OFFICER!r})"
                if node_signed
                else "the officer who recorded it"
            ),
            field="actor.officer",
        )
    if not node_signed:
        if "code_proof" in body:
            raise StepNotAllowed(
                "only a node-signed rating (online, code) carries a code proof",
                field="body.code_proof",
            )
        if envelope.body_id not in state.actor_bodies("rater"):
            raise NotEntitled(
                f"a rating is recorded by the intake or the home body, not {envelope.body_id}",
                field="actor.body",
            )
        return
    if envelope.body_id != state.home_body:
        raise NotEntitled(
            f"a node-signed rating is made under the rated (home) body {state.home_body}",
            field="actor.body",
        )
    if not state.rating_code:
        raise BadRatingCode(
            "the case's received step carries no rating code: rate it at the window or "
            "through the hotline",
            field="body.code_proof",
        )
    proof = body.get("code_proof")
    if proof is None or code_commitment_of_proof(proof) != state.rating_code:
        raise BadRatingCode(
            "the code proof does not match the case's rating code", field="body.code_proof"
        )


def _check_extension(
    state: CaseState, envelope: Envelope, catalogs: CatalogVersions, entitlement: Entitlement
) -> None:
    """An extension within the legal maximum of the pinned item, approved by whom the law says:
    the body's head signs it (Art. 42); the government's approval is cited (Art. 26)."""
    item = catalog_item(catalogs, state.catalog_version, state.item)
    decision: LegTimeLimit | None = item_limits(
        item.item_type, item.time_limits, state.coordination
    ).get("decision")
    body = envelope.body
    if decision is None or not decision.extension_days:
        raise StepNotAllowed(
            f"item {item.item_key} has no legal extension (legal limit not sourced); a signed "
            "catalog amendment sets one",
            field="type",
        )
    if body["approval"] != decision.extension_approver:
        raise StepNotAllowed(
            f"an extension of item {item.item_key} is approved by {decision.extension_approver}",
            field="body.approval",
        )
    total = state.extended_days + body["working_days"]
    if total > decision.extension_days:
        raise StepNotAllowed(
            f"extensions total {total} working days, over the legal maximum "
            f"{decision.extension_days} ({decision.legal_basis})",
            field="body.working_days",
        )
    if decision.extension_approver == "government" and "reference" not in body:
        raise StepNotAllowed(
            "a government-approved extension cites the approval document", field="body.reference"
        )
    entitlement.check_head(envelope.key_id)
