"""Which body a case waits on: the table's actor rule, as a listing of summaries can apply it.

A case *waits for* a body when a step the table allows next in its state and channel is that
body's to take (``intake`` and ``window``: the intake body; ``home``: the home body). Steps the
table allows in many states that wait on nobody are not counted: withdrawal (the applicant's
wish), a mail problem, a correction, reopening (after review or a court ruling). Origin bodies
of a joint item (``co_handled``) are not counted either: a listing's summary does not name them.

:data:`AWAITED` is that rule as two sets of ``(state, channel)`` pairs, so a store can filter by
it in one query (``adapters/readmodel_awaiting.py``); :func:`awaits` applies it to one case.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger.workflow.table import START, TRANSITIONS

__all__ = ["AWAITED", "WAITING_ON_NOBODY", "awaits"]

#: Step types possible in many states that wait on no body.
WAITING_ON_NOBODY = frozenset({"withdrawn", "mail_problem", "corrected", "reopened"})

_ROLE_OF_ACTOR = {"intake": "intake", "window": "intake", "home": "home"}


def _awaited() -> dict[str, frozenset[tuple[str, str]]]:
    pairs: dict[str, set[tuple[str, str]]] = {"intake": set(), "home": set()}
    for t in TRANSITIONS:
        role = _ROLE_OF_ACTOR.get(t.actor)
        if t.state == START or role is None or t.step.split(":", 1)[0] in WAITING_ON_NOBODY:
            continue
        pairs[role].update((t.state, channel) for channel in t.channels)
    return {role: frozenset(found) for role, found in pairs.items()}


#: ``intake`` / ``home`` → the ``(state, channel)`` pairs in which a case waits on that body.
AWAITED: Mapping[str, frozenset[tuple[str, str]]] = _awaited()


def awaits(*, state: str, channel: str, intake_body: str, home_body: str, body_id: str) -> bool:
    """Whether a case in ``state`` received through ``channel`` waits for a step of
    ``body_id`` (the rule above)."""
    return (intake_body == body_id and (state, channel) in AWAITED["intake"]) or (
        home_body == body_id and (state, channel) in AWAITED["home"]
    )
