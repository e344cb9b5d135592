"""Which body a case waits on (``ledger.workflow.awaiting``): the ``(state, channel)`` pairs a
store filters by are the workflow's actor rule, for every state, channel and role."""

from __future__ import annotations

import pytest

from ledger.workflow import ALL_CHANNELS, START, STATES, CaseState
from ledger.workflow.awaiting import WAITING_ON_NOBODY, awaits


def _waits_by_the_actor_rule(state: str, channel: str, intake: str, home: str, body: str) -> bool:
    """The rule as the case page applies it: a step allowed now, not one that waits on nobody,
    whose actor is ``body`` (``CaseState.actor_bodies``)."""
    flow = CaseState(
        state=state, channel=channel, coordination="single", intake_body=intake, home_body=home
    )
    return any(
        body in flow.actor_bodies(flow.transition(step).actor)
        for step in flow.allowed_steps()
        if step.split(":", 1)[0] not in WAITING_ON_NOBODY
    )


@pytest.mark.parametrize("channel", sorted(ALL_CHANNELS))
def test_the_pairs_are_the_actor_rule_for_every_state_and_role(channel: str) -> None:
    roles = {
        "intake": ("W", "H"),
        "home": ("H0", "W0"),
        "both": ("X", "X"),
        "neither": ("A", "B"),
    }
    waited = set()
    for state in (s for s in STATES if s != START):  # a listed case was received
        for role, (intake, home) in roles.items():
            body = {"intake": "W", "home": "W0", "both": "X", "neither": "C"}[role]
            expected = _waits_by_the_actor_rule(state, channel, intake, home, body)
            got = awaits(
                state=state, channel=channel, intake_body=intake, home_body=home, body_id=body
            )
            assert got == expected, (state, channel, role)
            if got:
                waited.add((state, role))
    # not vacuous: the window waits on a received case, the home body on an accepted one
    assert ("received", "intake") in waited and ("accepted", "home") in waited
    assert not any(state in ("delivered", "withdrawn") for state, _ in waited)
