"""The transition table: every state a case can be in, every step out of it and who takes it.

One table, :data:`TRANSITIONS`, is the whole workflow: ``(state, step, next state, actor,
channels, coordinations)``. A *step* is an event type, refined by the one body field that
changes where the case goes (``form_checked:pass``, ``mailed:window_to_home``,
``decided:approved``; :mod:`ledger.workflow.fields`); ``docs/workflows.md`` draws the table
(``tools/workflow_docs.py``), so the picture cannot drift from the rules.

Actors (收件、经办权责清晰 — every step has exactly one responsible body):

- ``intake``: the body that received the case (the window for ``proxy``, the home body for
  ``online`` and ``direct``);
- ``window``: the receiving window (``proxy`` only);
- ``home``: the case's current home body (named at ``received``, changed by ``transferred``);
- ``origin``: one of the origin bodies named at ``received`` (``joint`` items, 多地联办);
- ``party``: any body on the case (``corrected``, which marks that body's own earlier step).

Ratings and their rectification (好差评, GB/T 39734 / 39735) run on a second, smaller table,
:data:`RATING_TRANSITIONS`, over the case's *rating state*, beside its state: a case is rated
once, after delivery or a refusal (:data:`RATEABLE_STATES`), and a poor rating (差评) is
verified, rectified, followed up and closed without moving the case itself. Its actors:

- ``rater``: who records a rating: the node for ``online`` and ``code`` ratings (signed with
  the node key under the home body, bound to the slip's code), else an officer of the intake
  or the home body (``window``, ``hotline``);
- ``home`` as above: the rated body, which answers for the rectification.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_CHANNELS = frozenset({"online", "proxy", "direct"})
ONLINE_OR_DIRECT = frozenset({"online", "direct"})
PROXY = frozenset({"proxy"})
BOTH = frozenset({"single", "joint"})
JOINT = frozenset({"joint"})


@dataclass(frozen=True)
class Transition:
    state: str
    step: str
    next: str
    actor: str
    channels: frozenset[str] = ALL_CHANNELS
    coordinations: frozenset[str] = BOTH


def _t(
    state: str,
    step: str,
    next_state: str,
    actor: str,
    channels: frozenset[str] = ALL_CHANNELS,
    coordinations: frozenset[str] = BOTH,
) -> Transition:
    return Transition(state, step, next_state, actor, channels, coordinations)


START = "start"
# States before the home body decided: the applicant may still withdraw.
_WITHDRAWABLE_AT_INTAKE = ("received", "intake_supplement")
_WITHDRAWABLE_AT_WINDOW = ("checked", "to_home", "to_home_problem")  # proxy only
_WITHDRAWABLE_BY_HOME = ("at_home", "home_supplement", "accepted", "suspended")

TRANSITIONS: tuple[Transition, ...] = (
    _t(START, "received", "received", "intake"),
    # 形式审查 and 身份核验 where the application was received.
    _t("received", "form_checked:pass", "checked", "intake", PROXY),
    _t("received", "form_checked:pass", "at_home", "intake", ONLINE_OR_DIRECT),
    _t("received", "form_checked:needs_supplement", "intake_supplement", "intake"),
    _t("received", "form_checked:refused", "intake_refused", "intake"),
    _t("intake_supplement", "supplemented", "received", "intake"),
    _t("checked", "supplement_requested", "intake_supplement", "window", PROXY),
    # The file travels from the window to the home body (收受分离).
    _t("checked", "mailed:window_to_home", "to_home", "window", PROXY),
    _t("to_home", "mail_problem", "to_home_problem", "window", PROXY),
    _t("to_home_problem", "mailed:window_to_home", "to_home", "window", PROXY),
    _t("to_home", "arrived", "at_home", "home", PROXY),
    # 受理 / 不予受理, supplements asked by the home body, misrouted files.
    _t("at_home", "accepted", "accepted", "home"),
    _t("at_home", "refused", "refused", "home"),
    _t("at_home", "supplement_requested", "home_supplement", "home"),
    _t("home_supplement", "supplemented", "checked", "window", PROXY),
    _t("home_supplement", "supplemented", "at_home", "home", ONLINE_OR_DIRECT),
    _t("at_home", "transferred", "at_home", "home"),
    # Handling: joint items need every origin body; special procedures pause the clock.
    _t("accepted", "co_handled", "accepted", "origin", ALL_CHANNELS, JOINT),
    _t("accepted", "suspended", "suspended", "home"),
    _t("suspended", "resumed", "accepted", "home"),
    # 延期: signed by the body's head, within the legal maximum (docs/supervision.md §3).
    _t("accepted", "extended", "accepted", "home"),
    _t("accepted", "decided:approved", "decided", "home"),
    _t("accepted", "decided:rejected", "decided", "home"),
    # Delivering the result: online, by post to the applicant, or back at the window.
    _t("decided", "delivered:online", "delivered", "home"),
    _t("decided", "delivered:at_window", "delivered", "home", frozenset({"direct"})),
    _t("decided", "mailed:home_to_applicant", "to_applicant", "home"),
    _t("to_applicant", "mail_problem", "to_applicant_problem", "home"),
    _t("to_applicant_problem", "mailed:home_to_applicant", "to_applicant", "home"),
    _t("to_applicant", "delivered:post", "delivered", "home"),
    _t("decided", "mailed:home_to_window", "to_window", "home", PROXY),
    _t("to_window", "mail_problem", "to_window_problem", "home", PROXY),
    _t("to_window_problem", "mailed:home_to_window", "to_window", "home", PROXY),
    _t("to_window", "arrived", "at_window", "window", PROXY),
    _t("at_window", "delivered:at_window", "delivered", "window", PROXY),
    # After administrative review (行政复议) or a court ruling.
    _t("decided", "reopened", "accepted", "home"),
    _t("delivered", "reopened", "accepted", "home"),
    _t("refused", "reopened", "at_home", "home"),
    # A refusal at the window's form check is reviewed where it was made.
    _t("intake_refused", "reopened", "received", "intake"),
    *(_t(state, "withdrawn", "withdrawn", "intake") for state in _WITHDRAWABLE_AT_INTAKE),
    *(_t(state, "withdrawn", "withdrawn", "window", PROXY) for state in _WITHDRAWABLE_AT_WINDOW),
    *(_t(state, "withdrawn", "withdrawn", "home") for state in _WITHDRAWABLE_BY_HOME),
)

# -- ratings and rectification (好差评) ------------------------------------------------------

UNRATED = "unrated"
#: Case states in which a case may be rated: its result delivered, or refused.
RATEABLE_STATES = frozenset({"delivered", "refused", "intake_refused"})
_GOOD = ("very_satisfied", "satisfied", "basically_satisfied")
_POOR = ("dissatisfied", "very_dissatisfied")

RATING_TRANSITIONS: tuple[Transition, ...] = (
    *(_t(UNRATED, f"rated:{level}", "rated", "rater") for level in _GOOD),
    *(_t(UNRATED, f"rated:{level}", "verifying", "rater") for level in _POOR),
    _t("verifying", "rectification_verified:upheld", "rectifying", "home"),
    _t("verifying", "rectification_verified:not_upheld", "following_up", "home"),
    _t("rectifying", "rectified", "following_up", "home"),
    _t("following_up", "followed_up", "closing", "home"),
    _t("closing", "rectification_closed", "rectification_closed", "home"),
)
RATING_STATES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [UNRATED, *(t.state for t in RATING_TRANSITIONS), *(t.next for t in RATING_TRANSITIONS)]
    )
)
#: Rating states with a rectification under way (its deadlines run).
RECTIFYING_STATES = frozenset({"verifying", "rectifying", "following_up", "closing"})
RATING_STEP_TYPES = frozenset(t.step.split(":", 1)[0] for t in RATING_TRANSITIONS)

STATES: tuple[str, ...] = tuple(
    dict.fromkeys([START, *(t.state for t in TRANSITIONS), *(t.next for t in TRANSITIONS)])
)
# ``corrected`` is allowed in every state after ``received`` and leaves the state unchanged.
CORRECTABLE_STATES = frozenset(STATES) - {START}
# Closed: states the table leaves only by ``reopened`` (after review or a court ruling).
CLOSED_STATES = frozenset(
    state
    for state in STATES
    if state != START and all(t.step == "reopened" for t in TRANSITIONS if t.state == state)
)
