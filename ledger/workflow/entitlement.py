"""Who may act on a case, read from the organization data of the signed key registry.

Entitlement (:class:`Entitlement`): home steps by a ``handler`` body of the item's sector (lead
or cooperating unit) whose division contains the case's jurisdiction in the home region; origin
bodies by a ``handler`` body of the item's sector, of any region and place; window steps by a
``cross_province_window`` (another region) or ``in_province_window`` (same region) body.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.catalog import CatalogItem
from ledger.errors import EnvelopeRejected
from ledger.keys import BodyView


class NotEntitled(EnvelopeRejected):
    reason = "not_entitled"


def _contains(division: str, level: str, jurisdiction: str) -> bool:
    """Whether a body at ``division``/``level`` covers the place ``jurisdiction``."""
    prefix = {"province": 2, "city": 4}.get(level, 6)
    return jurisdiction[:prefix] == division[:prefix]


class Entitlement:
    """Decides whether a body may act on a case, from the signed organization registry."""

    def __init__(
        self,
        bodies: Callable[[str], BodyView | None],
        home_region: str,
        heads: Callable[[str], bool] = lambda kid: False,
    ):
        self.bodies = bodies
        self.home_region = home_region
        self.heads = heads  # kid -> whether it is an officer key of a body's head

    def check_head(self, kid: str) -> None:
        """An extension is approved by the body's head (负责人), certified as such."""
        if not self.heads(kid):
            raise NotEntitled(
                f"key {kid} is not certified as the body's head (officer_certified head: true); "
                "only the head approves an extension",
                field="kid",
            )

    def known(self, body_id: str, field_name: str) -> BodyView:
        body = self.bodies(body_id)
        if body is None:
            raise NotEntitled(
                f"body {body_id!r} is not in the organization registry", field=field_name
            )
        return body

    def check_handler(
        self, body_id: str, item: CatalogItem, jurisdiction: str, field_name: str
    ) -> None:
        body = self.known(body_id, field_name)
        sectors = {item.sector, *item.cooperating_sectors}
        problems = []
        if body.region != self.home_region:
            problems.append(
                f"is in region {body.region}, the case's home region is {self.home_region}"
            )
        if "handler" not in body.roles:
            problems.append("has no handler role")
        if body.sector not in sectors:
            problems.append(
                f"is of sector {body.sector!r}, the item needs one of {sorted(sectors)}"
            )
        if not _contains(body.division, body.level, jurisdiction):
            problems.append(f"({body.level} {body.division}) does not cover {jurisdiction}")
        if problems:
            raise NotEntitled(f"body {body_id} " + "; ".join(problems), field=field_name)

    def check_origin(self, body_id: str, item: CatalogItem, field_name: str) -> None:
        """An origin body of a joint case (多地联办) reads its applicant in clear and
        co-handles it: a handler of the item's sector. It may be of any region and place
        (it is where the applicant's file comes from), so neither is checked."""
        body = self.known(body_id, field_name)
        sectors = {item.sector, *item.cooperating_sectors}
        problems = []
        if "handler" not in body.roles:
            problems.append("has no handler role")
        if body.sector not in sectors:
            problems.append(
                f"is of sector {body.sector!r}, the item needs one of {sorted(sectors)}"
            )
        if problems:
            raise NotEntitled(f"origin body {body_id} " + "; ".join(problems), field=field_name)

    def check_window(self, body_id: str) -> None:
        body = self.known(body_id, "actor.body")
        role = "in_province_window" if body.region == self.home_region else "cross_province_window"
        if role not in body.roles:
            raise NotEntitled(f"body {body_id} has no {role} role", field="actor.body")


def receivable_channels(body: BodyView, item: CatalogItem) -> tuple[str, ...]:
    """The channels of ``item`` through which ``body`` may receive its cases, as
    :func:`ledger.workflow.rules.check_received` judges the receiving body (the case's home
    body, jurisdiction and origins aside): none unless the item is open (``active``);
    ``proxy`` at a window of the matching role (``in_province_window`` in the item's region,
    ``cross_province_window`` elsewhere); ``online`` and ``direct`` by a handler of the item's
    region and sector, which is then the case's home body."""
    if item.status != "active":
        return ()
    sectors = {item.sector, *item.cooperating_sectors}
    handler = "handler" in body.roles and body.region == item.region and body.sector in sectors
    window = "in_province_window" if body.region == item.region else "cross_province_window"
    return tuple(
        channel
        for channel in item.channels
        if (window in body.roles if channel == "proxy" else handler)
    )
