"""Whose rows a caller reads: a body its own, a supervisor the bodies of its scope (never
personal data), the auditor and the administrator any (docs/supervision.md §7)."""

from __future__ import annotations

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.supervision import bodies_in_scope
from api.deps import require
from api.errors import ApiProblem

OVERSEERS = ("auditor", "admin")


def visible_bodies(
    node: NodeServices, caller: Principal, body: str | None, field: str = "body"
) -> list[str] | None:
    """The bodies whose rows ``caller`` reads (None: all): a supervisor those of its scope,
    narrowed to ``body`` when named (403 when outside the scope)."""
    require(caller, "supervisor", *OVERSEERS)
    if caller.kind != "supervisor":
        return None if body is None else [body]
    mine = bodies_in_scope(node, caller.scope)
    if body is None:
        return mine
    if body not in mine:
        raise ApiProblem(
            403,
            f"body {body} is outside this supervisor's scope ({', '.join(caller.scope)})",
            reason="forbidden",
            field=field,
        )
    return [body]


def own_body(node: NodeServices, caller: Principal, body_id: str) -> None:
    """A body reads its own; a supervisor a body of its scope; the auditor and admin any."""
    require(caller, "body", "supervisor", *OVERSEERS)
    if caller.kind == "body" and caller.subject != body_id:
        raise ApiProblem(403, "a body reads its own", reason="forbidden", field="body_id")
    if caller.kind == "supervisor":
        visible_bodies(node, caller, body_id, "body_id")
