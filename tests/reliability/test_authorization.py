"""The authorization matrix: every route of the API × every principal kind, one status per cell.

``MATRIX`` below is the specification (``docs/threat-model.md`` §6 carries the same table; a
test keeps them equal). Each request is one the route's rightful caller would make: a body
posts envelopes its own officer signed, for a case it could open; a peer posts its own region's
key records. So a 2xx cell says "this principal may do this", a 401/403 cell that the token
stopped it, and a 404/422 cell that the token passed and the ledger refused the content.

To add a route: add its row to ``MATRIX`` (and the doc), and a request to ``REQUESTS``;
``test_every_route_has_a_row`` fails until both exist.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from api.cli import main
from api.license_client import IssuedLicense, PreparedIssuance
from ledger.envelope import ZERO_HASH
from ledger.login import Challenge, build_login
from ledger.ratings.code import code_commitment
from ledger.suites import Ed25519Signer
from licenses.document import parse_license
from tests.support import licenses, peer_calls
from tests.support.api_node import (
    BODY_OF,
    PRINCIPALS,
    ApiNode,
    api_node,
    configured_api_node,
)

# Columns: the principal kinds of tests/support/api_node.py. `home` and `window` are bodies
# on the case the rows read (510104-RS of this region, 320105-ZWFW of Jiangsu); `outsider`
# (510000-ZWFW) and `away` (320105-RS) are bodies of this and another region not on it;
# `supervisor` is scoped to 510100 (成都), which covers 510104-RS: it reads the supervision
# routes and a covered body's legs and alerts, and is refused (403) everything else that
# needs a token, every personal-data route first of all.
MATRIX = """
route none bad revoked home outsider away window auditor peer admin supervisor
GET /health                          200  200  200  200  200  200  200  200  200  200  200
GET /catalog                         200  200  200  200  200  200  200  200  200  200  200
GET /catalog/{region}                200  200  200  200  200  200  200  200  200  200  200
GET /catalog/{region}/{batch}/{seq}  200  200  200  200  200  200  200  200  200  200  200
POST /cases                          401  401  401  201  201  422  201  403  403  403  403
POST /cases/{case_id}/events         401  401  401  201  422  422  422  403  403  403  403
POST /applicants                     401  401  401  201  201  201  201  403  403  403  403
GET /cases                           401  401  401  200  200  200  200  200  403  200  403
GET /cases/{case_id}                 401  401  401  200  403  403  200  200  403  200  403
GET /cases/{case_id}?personal=true   401  401  401  200  403  403  200  403  403  403  403
GET /cases/{case_id}/access          401  401  401  200  403  403  200  200  403  200  403
POST /cases/{case_id}/ratings        201  201  201  201  201  201  201  201  201  201  201
GET /cases/{case_id}/rectification/contact 401  401  401  200  403  403  403  403  403  403  403
GET /bodies/{body_id}/ratings        401  401  401  200  403  403  403  200  403  200  200
GET /bulletins/{month}               401  401  401  403  403  403  403  200  403  200  200
GET /supervision/legs                401  401  401  403  403  403  403  200  403  200  200
GET /supervision/statistics          401  401  401  403  403  403  403  200  403  200  200
GET /supervision/rectifications      401  401  401  403  403  403  403  200  403  200  200
GET /supervision/alerts              401  401  401  403  403  403  403  200  403  200  200
GET /bodies/{body_id}/legs           401  401  401  200  403  403  403  200  403  200  200
GET /bodies/{body_id}/alerts         401  401  401  200  403  403  403  200  403  200  200
GET /audit/events                    401  401  401  403  403  403  403  200  200  200  403
GET /audit/cases/{case_id}           401  401  401  403  403  403  403  200  403  200  403
POST /audit/verify                   401  401  401  403  403  403  403  202  403  202  403
GET /audit/jobs/{job_id}             401  401  401  403  403  403  403  200  403  200  403
GET /audit/access                    401  401  401  403  403  403  403  200  403  200  403
GET /audit/checkpoint                200  200  200  200  200  200  200  200  200  200  200
POST /audit/checkpoint               401  401  401  403  403  403  403  403  403  200  403
GET /audit/proof/inclusion           200  200  200  200  200  200  200  200  200  200  200
GET /audit/proof/consistency         200  200  200  200  200  200  200  200  200  200  200
GET /keys                            200  200  200  200  200  200  200  200  200  200  200
POST /keys/records                   401  401  401  403  403  403  403  403  201  201  403
POST /keys/records/draft             401  401  401  403  403  403  403  403  403  200  403
GET /bodies                          200  200  200  200  200  200  200  200  200  200  200
GET /bodies/{body_id}                200  200  200  200  200  200  200  200  200  200  200
POST /witness/add-checkpoint         404  404  404  404  404  404  404  404  404  404  404
GET /witness/evidence                401  401  401  403  403  403  403  200  403  200  403
GET /witness/evidence/{evidence_id}  401  401  401  403  403  403  403  404  403  404  403
POST /licenses/verify                200  200  200  200  200  200  200  200  200  200  200
GET /trust-list                      200  200  200  200  200  200  200  200  200  200  200
POST /trust-list                     401  401  401  403  403  403  403  403  403  200  403
GET /status-lists/{list_id}          200  200  200  200  200  200  200  200  200  200  200
POST /licenses/prepare               401  401  401  200  403  403  403  403  403  403  403
POST /licenses                       401  401  401  201  403  403  403  403  403  403  403
PUT /licenses/{identifier}/document  401  401  401  200  403  403  403  403  403  403  403
GET /licenses/{identifier}           401  401  401  200  200  200  200  200  200  200  403
GET /licenses/{identifier}#grant     401  401  401  200  403  200  200  403  200  403  403
POST /licenses/{identifier}/grants   401  401  401  201  403  403  403  403  403  403  403
DELETE /licenses/{identifier}/grants/{grant_id} 401 401 401 204 403 403 403 403 403 403 403
GET /licenses/{identifier}/uses      401  401  401  200  403  403  403  200  403  200  403
POST /licenses/{identifier}/{action}#suspend 401  401  401  201  403  403  403  403  403  403  403
POST /licenses/{identifier}/{action}#reinstate 401  401  401  201  403  403  403  403  403  403  403
POST /licenses/{identifier}/{action}#revoke 401  401  401  201  403  403  403  403  403  403  403
POST /login/challenge                200  200  200  200  200  200  200  200  200  200  200
POST /login                          200  200  200  200  200  200  200  200  200  200  200
GET /login/session                   401  401  401  401  401  401  401  401  401  401  401
POST /login/token                    401  401  401  403  403  403  403  200  403  200  200
POST /logout                         401  401  401  204  204  204  204  204  204  204  204
POST /cases/{case_id}/draft          401  401  401  403  403  403  403  403  403  403  403
POST /licenses/draft                 401  401  401  403  403  403  403  403  403  403  403
POST /licenses/status-draft          401  401  401  403  403  403  403  403  403  403  403
POST /licenses/sealed                401  401  401  403  403  403  403  403  403  403  403
GET /pages                           303  303  303  303  303  303  303  303  303  303  303
GET /pages/login                     200  200  200  200  200  200  200  200  200  200  200
GET /pages/worklist                  303  303  303  303  303  303  303  303  303  303  303
GET /pages/cases/{case_id}           303  303  303  303  303  303  303  303  303  303  303
GET /pages/receive                   303  303  303  303  303  303  303  303  303  303  303
GET /pages/cases/{case_id}/notices/receipt 303  303  303  303  303  303  303  303  303  303  303
GET /pages/cases/{case_id}/notices/{seq} 303  303  303  303  303  303  303  303  303  303  303
GET /pages/check                     200  200  200  200  200  200  200  200  200  200  200
POST /pages/check                    200  200  200  200  200  200  200  200  200  200  200
GET /pages/catalog                   200  200  200  200  200  200  200  200  200  200  200
GET /pages/catalog/{region}          200  200  200  200  200  200  200  200  200  200  200
GET /pages/halls/{region}            200  200  200  200  200  200  200  200  200  200  200
GET /pages/catalog/{region}/{batch}/{seq} 200  200  200  200  200  200  200  200  200  200  200
GET /pages/supervision               303  303  303  303  303  303  303  303  303  303  303
GET /pages/keys                      303  303  303  303  303  303  303  303  303  303  303
GET /pages/cases/{case_id}/licenses/{identifier} 303 303 303 303 303 303 303 303 303 303 303
GET /pages/licenses/{identifier}     303  303  303  303  303  303  303  303  303  303  303
GET /pages/licenses/{identifier}/qr.png 303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit                     303  303  303  303  303  303  303  303  303  303  303
POST /pages/audit                    303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit/cases               303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit/cases/{case_id}     303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit/checkpoints         303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit/bodies              303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit/bodies/{body_id}    303  303  303  303  303  303  303  303  303  303  303
GET /pages/audit/access              303  303  303  303  303  303  303  303  303  303  303
GET /pages/progress                  200  200  200  200  200  200  200  200  200  200  200
POST /pages/progress                 200  200  200  200  200  200  200  200  200  200  200
POST /pages/rate                     200  200  200  200  200  200  200  200  200  200  200
GET /metrics                         401  401  401  403  403  403  403  200  403  200  403
GET /relay                           401  401  401  200  200  200  200  200  403  200  403
POST /relay/deliver                  401  401  401  403  403  403  403  403  403  200  403
POST /peer/steps                     401  401  401  401  401  401  401  401  401  401  401
POST /peer/steps#signed              201  201  201  201  201  201  201  201  201  201  201
GET /peer/cases/{case_id}            401  401  401  401  401  401  401  401  401  401  401
GET /peer/cases/{case_id}#signed     200  200  200  200  200  200  200  200  200  200  200
"""
# Why the cells that are neither a grant nor a token refusal are what they are:
# - POST /cases, away: 320105-RS has no window role; no case it could open here (not_entitled).
# - POST /cases/{id}/events: the step is `arrived` at the home body, which only home may sign;
#   the others sign it as themselves and the workflow refuses them (not_entitled).
# - POST /cases/{id}/ratings: no token is involved (the slip's one-time code is the
#   credential); each principal rates a delivered case of its own with its right code.
# - GET /cases/{id}/rectification/contact: only the rated (home) body, while the follow-up is
#   due; the window is on the case, the auditor and admin read cases, but none calls back.
# - POST /witness/add-checkpoint: no token is involved (the log's signature authenticates);
#   this node witnesses no log, so 404 for the checkpoint of any log.
# - GET /witness/evidence/{id}: the token is checked before the lookup (no oracle): 404 only
#   for those allowed to read evidence, since there is none.
# - Licenses (docs/license.md §12.7): the license is the home body's (510104-RS, its issuer).
#   Anyone may verify and read trust and status lists; any token reads a license's status (a
#   read by anyone but the issuer is logged). `#grant` reads it with the holder's grant for
#   Jiangsu (320000, any body): its bodies and peer see the metadata, a body of this region,
#   the auditor and the administrator are not its audience (403 wrong_audience). `outsider`
#   is a body of this region but not the case's home body, so may not prepare (not_entitled).
# - Login (docs/login.md): the signed proof authenticates, not a token: a fresh challenge
#   answered by 510104-RS's officer logs in whatever token comes with it. A token is not a
#   session (GET /login/session 401); logging out with one ends nothing (204). POST
#   /login/token takes the principal's own token in its body: an auditor, a supervisor or the
#   administrator opens a session (200), a body or peer token opens none (403), an unknown,
#   revoked or missing one is 401 (tests/e2e/test_token_sessions.py).
# - Pages (api/routes/pages.py): an officer's session is the only login a page takes, so every
#   token is sent to the login page (303); the draft route names the session's officer and
#   key, so a token gets 403 even for a body. With a session: tests/e2e/test_pages.py.
#   The administrator's key page (api/routes/key_pages.py) takes an administrator's token
#   session (a bearer token: 303); its draft route, which signs and appends nothing, the
#   administrator alone, by token or session. Sessions: tests/e2e/test_key_pages.py.
#   The license pages and their routes (api/routes/license_pages.py, license_drafts.py) are
#   the same: the draft routes and issuance under the node's seal name the session's officer
#   and key, so every token gets 403 (tests/e2e/test_license_pages.py, with a session).
#   The auditors' pages (api/routes/audit_pages.py, audit_record_pages.py) take an auditor's
#   or the administrator's token session, so a bearer token is sent to the login page too
#   (303); with a session, officers and supervisors get a 403 page
#   (tests/e2e/test_audit_pages.py).
#   The public pages (api/routes/public_pages.py: the license check; catalog_pages.py: the
#   catalog and halls; progress_page.py: the
#   applicant's progress with the slip's code) read no login at all: 200 for everyone, a
#   token changes nothing (tests/e2e/test_public_pages.py).
CONTENT_REFUSALS = {
    ("POST /cases", "away"): "not_entitled",
    ("POST /cases/{case_id}/events", "outsider"): "not_entitled",
    ("POST /cases/{case_id}/events", "away"): "not_entitled",
    ("POST /cases/{case_id}/events", "window"): "not_entitled",
    ("POST /licenses/prepare", "outsider"): "not_entitled",
    ("GET /licenses/{identifier}#grant", "outsider"): "wrong_audience",
    ("GET /licenses/{identifier}#grant", "auditor"): "wrong_audience",
    ("GET /licenses/{identifier}#grant", "admin"): "wrong_audience",
}
# - /peer: no token is involved (docs/relay.md): the Tongban-Peer header, a peer request signed
#   by a node peers.json names, authenticates the call; without one every caller gets 401
#   `peer_unauthenticated`, with one (`#signed`, Jiangsu's node) every caller is that node.
CONTENT_REFUSALS |= {
    (row, principal): "peer_unauthenticated"
    for row in ("POST /peer/steps", "GET /peer/cases/{case_id}")
    for principal in PRINCIPALS
}
# A refused grant is a lookup the holder must see (docs/license.md §12.6): these refusals add
# one `refused:<reason>` row to the use log and change nothing else.
LOGGED_REFUSALS = {row for row, _ in CONTENT_REFUSALS if row.startswith("GET /licenses/")}
USE_LOG = "tongban_license_uses"


def parse_matrix(text: str) -> dict[str, dict[str, int]]:
    """``{row: {principal: status}}`` from a whitespace table (the first line names columns)."""
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    columns = header[1:]
    table: dict[str, dict[str, int]] = {}
    for cells in rows:
        route, statuses = " ".join(cells[:2]), cells[2:]
        assert len(statuses) == len(columns), f"row {route!r} has {len(statuses)} cells"
        assert route not in table, f"row {route!r} appears twice"
        table[route] = {p: int(s) for p, s in zip(columns, statuses, strict=True)}
    return table


EXPECTED = parse_matrix(MATRIX)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "threat-model.md"
UNDOCUMENTED_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


@dataclass
class Fixture:
    """What the rows read: a case with ``home`` and ``window`` on it, an audit job, a license
    ``home`` issued for a case like it; ``made`` keeps what one row's cells share (a license
    for a row that changes its status, an issuance halfway)."""

    node: ApiNode
    case_id: uuid.UUID
    job_id: str
    tree_size: int
    license: IssuedLicense
    made: dict[str, Any] = field(default_factory=dict)

    def names(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "job_id": self.job_id,
            "identifier": self.license.identifier,
            "list_id": parse_license(self.license.document).status.list,
        }

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]


Send = Callable[[], httpx.Response]
# A row's request for a principal: prepared first (applicants stored, cases opened, records
# signed), then sent, so that the store can be compared just before and after the send.
Request = Callable[[Fixture, str], Send]


def _get(path: str, **params: Any) -> Request:
    def prepare(f: Fixture, principal: str) -> Send:
        url = path.format(**f.names())
        values = {k: v.format(size=f.tree_size) for k, v in params.items()}
        return lambda: f.node.get(url, principal, **values)

    return prepare


def _page(path: str) -> Request:
    # A page answers a redirect to the login page: the status is the 303 itself.
    def prepare(f: Fixture, principal: str) -> Send:
        url = path.format(**f.names())
        headers = f.node.headers(principal)
        return lambda: f.node.client.get(url, headers=headers, follow_redirects=False)

    return prepare


def _page_post(path: str) -> Request:
    # A page's form post: without a session, the login page (303) whatever token comes along.
    def prepare(f: Fixture, principal: str) -> Send:
        headers = f.node.headers(principal)
        return lambda: f.node.client.post(path, headers=headers, follow_redirects=False)

    return prepare


def _draft(f: Fixture, principal: str) -> Send:
    return _json("POST", "/cases/{case_id}/draft", {"type": "arrived", "body": {}}, principal, f)


def _post(path: str) -> Request:
    return lambda f, principal: lambda: f.node.post(path, principal, content_type=None)


def _open_case(f: Fixture, principal: str) -> Send:
    # Each body opens the case it could open: home an online case for itself, the windows a
    # proxy case for 510104-RS. Others post a valid window-signed envelope.
    body_id = BODY_OF.get(principal, "320105-ZWFW")
    channel = "online" if body_id == "510104-RS" else "proxy"
    item = "510000/1/5" if channel == "online" else "510000/2/23"
    _, raw = f.node.received(body_id, item=item, channel=channel)
    return lambda: f.node.post("/cases", principal, raw)


def _append(f: Fixture, principal: str) -> Send:
    # A fresh case waiting for its home body to confirm arrival; the principal's body signs it.
    case_id = f.node.proxy_case()
    body_id = BODY_OF.get(principal, "510104-RS")
    head = f.node.services.ledger.head(case_id)
    raw = f.node.envelope(
        body_id, case_id, head.seq + 1, head.event_hash, "arrived", {"note": "材料齐全"}
    )
    return lambda: f.node.post(f"/cases/{case_id}/events", principal, raw)


def _draft_key_record(f: Fixture, principal: str) -> Send:
    body = {
        "body_id": "510104-RS",
        "officer_id": f"matrix-draft-{principal}",
        "device": "web-1",
        "public_key": {"bin": Ed25519Signer.generate().public_key.hex()},
    }
    request = {
        "type": "officer_certified",
        "kid": f.node.world.body_keys["510104-RS"].key_id,
        "body": body,
    }
    return _json("POST", "/keys/records/draft", request, principal, f)


def _store_applicant(f: Fixture, principal: str) -> Send:
    person = {"name": "王五", "id_number": "11010519491231002X"}
    return lambda: f.node.client.post("/applicants", json=person, headers=f.node.headers(principal))


def _key_record(f: Fixture, principal: str) -> Send:
    region = "320000" if principal == "peer" else f.node.world.region
    raw = f.node.key_record(region, f"matrix-{principal}")
    return lambda: f.node.post("/keys/records", principal, raw)


def _add_checkpoint(f: Fixture, principal: str) -> Send:
    note = f.node.services.ledger.latest_checkpoint()
    assert note is not None
    request = f"old 0\n\n{note.render()}".encode()
    return lambda: f.node.post("/witness/add-checkpoint", principal, request, "text/plain")


def _json(method: str, path: str, body: dict[str, Any], principal: str, f: Fixture) -> Send:
    url = path.format(**f.names())
    headers = f.node.headers(principal)
    return lambda: f.node.client.request(method, url, json=body, headers=headers)


def _verify(f: Fixture, principal: str) -> Send:
    return _json("POST", "/licenses/verify", {"license": f.license.compact}, principal, f)


def _check_page(f: Fixture, principal: str) -> Send:
    # The public check page posts the form; a token changes nothing (no login is read).
    headers = f.node.headers(principal)
    form = {"license": f.license.compact}
    return lambda: f.node.client.post("/pages/check", data=form, headers=headers)


def _progress_page(f: Fixture, principal: str) -> Send:
    # The applicant's progress page: the slip's code is the credential, a token changes nothing.
    headers = f.node.headers(principal)
    form = {"case": str(f.case_id), "code": "0000-0000-0000-0000"}
    return lambda: f.node.client.post("/pages/progress", data=form, headers=headers)


def _rate_page(f: Fixture, principal: str) -> Send:
    # The rating form of the progress page, with a wrong code: refused on the page (200).
    headers = f.node.headers(principal)
    form = {"case": str(f.case_id), "code": "0000-0000-0000-0000", "level": "satisfied"}
    return lambda: f.node.client.post("/pages/rate", data=form, headers=headers)


def _publish_trust_list(f: Fixture, principal: str) -> Send:
    # The root holder's next version: what the administrator is handed to publish.
    assert f.node.services.licenses is not None
    version = f.node.services.licenses.store.trust_lists()[f.node.world.region][0]
    raw = licenses.trust_list(f.node, version + 1)
    return lambda: f.node.post("/trust-list", principal, raw)


def _prepare(f: Fixture, principal: str) -> Send:
    case_id, identifier = f.once("delivered", lambda: licenses.delivered_case(f.node))
    body = {"case": str(case_id), "identifier": identifier}
    return _json("POST", "/licenses/prepare", body, principal, f)


def _issue(f: Fixture, principal: str) -> Send:
    prepared: PreparedIssuance = f.once("prepared", lambda: licenses.prepare(f.node))
    body = {"event": _b64(prepared.event), "document": _b64(prepared.draft)}
    return _json("POST", "/licenses", body, principal, f)


def _license_draft(f: Fixture, principal: str) -> Send:
    # What the license page asks (an officer's session drafts; a token is refused first).
    case_id, identifier = f.once("delivered", lambda: licenses.delivered_case(f.node))
    body = {"case": str(case_id), "identifier": identifier, "face": {"card_no": "A1"}}
    return _json("POST", "/licenses/draft", body, principal, f)


def _json_row(path: str, body: dict[str, str]) -> Request:
    def prepare(f: Fixture, principal: str) -> Send:
        filled = {key: value.format(**f.names()) for key, value in body.items()}
        return _json("POST", path, filled, principal, f)

    return prepare


def _sealed(f: Fixture, principal: str) -> Send:
    prepared: PreparedIssuance = f.once("prepared", lambda: licenses.prepare(f.node))
    body = {"event": _b64(prepared.event), "document": _b64(prepared.draft)}
    return _json("POST", "/licenses/sealed", body, principal, f)


def _put_document(f: Fixture, principal: str) -> Send:
    def posted() -> tuple[PreparedIssuance, int]:
        prepared = licenses.prepare(f.node)
        return prepared, licenses.post_draft(f.node, prepared)

    prepared, index = f.once("posted", posted)
    body = {"document": _b64(prepared.document(index))}
    return _json("PUT", f"/licenses/{prepared.identifier}/document", body, principal, f)


def _grant(f: Fixture, **changes: Any) -> dict[str, Any]:
    return licenses.grant(f.node, f.license.identifier, **changes)


def _read_with_grant(f: Fixture, principal: str) -> Send:
    grant = _grant(f)["grant"]
    url = f"/licenses/{f.license.identifier}"
    headers = {**f.node.headers(principal), "Tongban-Grant": grant}
    return lambda: f.node.client.get(url, headers=headers)


def _make_grant(f: Fixture, principal: str) -> Send:
    return lambda: licenses.post_grant(f.node, f.license.identifier, principal)


def _withdraw_grant(f: Fixture, principal: str) -> Send:
    url = f"/licenses/{f.license.identifier}/grants/{_grant(f)['grant_id']}"
    headers = f.node.headers(principal)
    return lambda: f.node.client.delete(url, headers=headers)


def _status_license(f: Fixture, action: str) -> str:
    identifier = licenses.issue(f.node).identifier
    if action == "reinstate":
        raw = licenses.status_event(f.node, identifier, "suspend")
        assert f.node.post(f"/licenses/{identifier}/suspend", "home", raw).status_code == 201
    return identifier


def _change_status(action: str) -> Request:
    # One license per action (revoked is final; reinstating needs a suspended license); a
    # body signs as its own officer, any other principal posts the issuer's event.
    def prepare(f: Fixture, principal: str) -> Send:
        identifier = f.once(f"status {action}", lambda: _status_license(f, action))
        signer = BODY_OF.get(principal, licenses.ISSUER)
        raw = licenses.status_event(f.node, identifier, action, signer)
        return lambda: f.node.post(f"/licenses/{identifier}/{action}", principal, raw)

    return prepare


RATING_CODE = "7K3M-9QXW-2RTB-H4ZD"
RATED_APPLICANT = {
    "name": "司马青云",
    "id_number": "510104199001011230",
    "phone": "13800138000",
    "address": "成都市锦江区东大街一段1号",
}


def _delivered_with_code(f: Fixture) -> uuid.UUID:
    """An online case of 510104-RS with a rating code on its slip, delivered."""
    node = f.node
    case_id = uuid.uuid4()
    body = node.world.received_body("510000/1/5", "online")
    # A person of its own: the privacy tests scan every answer for the fixture case's
    # applicant, and this case's follow-up call shows its applicant in clear by right.
    body["applicant"] = node.stored_applicant("home", RATED_APPLICANT)
    body["rating_code"] = code_commitment(case_id, RATING_CODE)
    raw = node.envelope("510104-RS", case_id, 1, ZERO_HASH, "received", body)
    assert node.post("/cases", "home", raw).status_code == 201
    for step, content in (
        ("form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
        ("accepted", {"note": ""}),
        ("decided", {"result": "approved", "reasons": [], "basis": "失业保险条例"}),
        ("delivered", {"method": "online", "results": []}),
    ):
        answer = node.step(case_id, "510104-RS", step, content)
        assert answer.status_code == 201, answer.text
    return case_id


def _rate(f: Fixture, principal: str) -> Send:
    case_id = _delivered_with_code(f)
    rating = {"code": RATING_CODE, "level": "satisfied"}
    return _json("POST", f"/cases/{case_id}/ratings", rating, principal, f)


def _following_up(f: Fixture) -> uuid.UUID:
    case_id = _delivered_with_code(f)
    rating = {"code": RATING_CODE, "level": "dissatisfied", "comment": "等候时间长"}
    assert f.node.client.post(f"/cases/{case_id}/ratings", json=rating).status_code == 201
    verified = {"result": "not_upheld", "finding": "按规定办理"}
    assert f.node.step(case_id, "510104-RS", "rectification_verified", verified).status_code == 201
    return case_id


def _follow_up_contact(f: Fixture, principal: str) -> Send:
    case_id = f.once("following_up", lambda: _following_up(f))
    url = f"/cases/{case_id}/rectification/contact"
    return lambda: f.node.get(url, principal, purpose="差评回访")


def _relay(f: Fixture, principal: str) -> Send:
    body, _ = peer_calls.relayed_received(f.node)
    headers = {
        **f.node.headers(principal, "application/json"),
        **peer_calls.peer_headers(f.node, "POST", "/peer/steps", body),
    }
    return lambda: f.node.client.post("/peer/steps", content=body, headers=headers)


def _peer_read(f: Fixture, principal: str) -> Send:
    path = peer_calls.read_path(f.case_id)
    headers = {**f.node.headers(principal), **peer_calls.peer_headers(f.node, "GET", path, b"")}
    return lambda: f.node.client.get(path, headers=headers)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _log_in(f: Fixture, principal: str) -> Send:
    def log_in() -> httpx.Response:
        given = f.node.client.post("/login/challenge").json()
        officer = f.node.world.officers["rs-001"]
        challenge = Challenge(
            given["origin"], bytes.fromhex(given["nonce"]), given["issued_at"], given["expires_at"]
        )
        raw = build_login(challenge, officer.signer, body_id="510104-RS", officer_id="rs-001")
        proof = {"proof": base64.b64encode(raw).decode()}
        answer: httpx.Response = f.node.client.post(
            "/login", json=proof, headers=f.node.headers(principal)
        )
        f.node.client.cookies.clear()  # the next request is the token's alone
        return answer

    return log_in


def _token_login(f: Fixture, principal: str) -> Send:
    def log_in() -> httpx.Response:
        token = f.node.tokens.get(principal, "")  # "none": no token at all
        answer: httpx.Response = f.node.client.post("/login/token", json={"token": token})
        f.node.client.cookies.clear()  # the next request is the token's alone
        return answer

    return log_in


REQUESTS: dict[str, Request] = {
    "GET /health": _get("/health"),
    "GET /metrics": _get("/metrics"),
    "GET /catalog": _get("/catalog"),
    "GET /catalog/{region}": _get("/catalog/510000"),
    "GET /catalog/{region}/{batch}/{seq}": _get("/catalog/510000/1/5"),
    "POST /cases": _open_case,
    "POST /cases/{case_id}/events": _append,
    "POST /applicants": _store_applicant,
    "GET /cases": _get("/cases"),
    "GET /cases/{case_id}": _get("/cases/{case_id}"),
    "GET /cases/{case_id}?personal=true": _get(
        "/cases/{case_id}", personal="true", purpose="核对申请人身份"
    ),
    "GET /cases/{case_id}/access": _get("/cases/{case_id}/access"),
    "POST /cases/{case_id}/ratings": _rate,
    "GET /cases/{case_id}/rectification/contact": _follow_up_contact,
    "GET /bodies/{body_id}/ratings": _get("/bodies/510104-RS/ratings"),
    "GET /bulletins/{month}": _get("/bulletins/2026-01"),
    "GET /supervision/legs": _get("/supervision/legs", as_of="2026-01-05"),
    "GET /supervision/statistics": _get("/supervision/statistics", as_of="2026-01-05"),
    "GET /supervision/rectifications": _get("/supervision/rectifications"),
    "GET /supervision/alerts": _get("/supervision/alerts"),
    "GET /bodies/{body_id}/legs": _get("/bodies/510104-RS/legs"),
    "GET /bodies/{body_id}/alerts": _get("/bodies/510104-RS/alerts"),
    "GET /audit/events": _get("/audit/events"),
    "GET /audit/cases/{case_id}": _get("/audit/cases/{case_id}"),
    "POST /audit/verify": _post("/audit/verify"),
    "GET /audit/jobs/{job_id}": _get("/audit/jobs/{job_id}"),
    "GET /audit/access": _get("/audit/access"),
    "GET /audit/checkpoint": _get("/audit/checkpoint"),
    "POST /audit/checkpoint": _post("/audit/checkpoint"),
    "GET /audit/proof/inclusion": _get("/audit/proof/inclusion", event="1", size="{size}"),
    "GET /audit/proof/consistency": _get(
        "/audit/proof/consistency", **{"from": "1", "to": "{size}"}
    ),
    "GET /keys": _get("/keys"),
    "POST /keys/records": _key_record,
    "POST /keys/records/draft": _draft_key_record,
    "GET /bodies": _get("/bodies"),
    "GET /bodies/{body_id}": _get("/bodies/510104-RS"),
    "POST /witness/add-checkpoint": _add_checkpoint,
    "GET /witness/evidence": _get("/witness/evidence"),
    "GET /witness/evidence/{evidence_id}": _get("/witness/evidence/ev-1"),
    "POST /licenses/verify": _verify,
    "GET /trust-list": _get("/trust-list"),
    "POST /trust-list": _publish_trust_list,
    "GET /status-lists/{list_id}": _get("/status-lists/{list_id}"),
    "POST /licenses/prepare": _prepare,
    "POST /login/challenge": _post("/login/challenge"),
    "POST /login": _log_in,
    "GET /login/session": _get("/login/session"),
    "POST /login/token": _token_login,
    "POST /logout": _post("/logout"),
    "POST /cases/{case_id}/draft": _draft,
    "POST /licenses/draft": _license_draft,
    "POST /licenses/status-draft": _json_row(
        "/licenses/status-draft",
        {"identifier": "{identifier}", "action": "suspend", "reason": "核查"},
    ),
    "POST /licenses/sealed": _sealed,
    "GET /pages/cases/{case_id}/licenses/{identifier}": _page(
        "/pages/cases/{case_id}/licenses/{identifier}"
    ),
    "GET /pages/licenses/{identifier}": _page("/pages/licenses/{identifier}"),
    "GET /pages/licenses/{identifier}/qr.png": _page("/pages/licenses/{identifier}/qr.png"),
    "GET /pages": _page("/pages"),
    "GET /pages/login": _page("/pages/login"),
    "GET /pages/worklist": _page("/pages/worklist"),
    "GET /pages/cases/{case_id}": _page("/pages/cases/{case_id}"),
    "GET /pages/receive": _page("/pages/receive"),
    "GET /pages/cases/{case_id}/notices/receipt": _page("/pages/cases/{case_id}/notices/receipt"),
    "GET /pages/cases/{case_id}/notices/{seq}": _page("/pages/cases/{case_id}/notices/1"),
    "GET /pages/check": _page("/pages/check"),
    "POST /pages/check": _check_page,
    "GET /pages/catalog": _page("/pages/catalog"),
    "GET /pages/catalog/{region}": _page("/pages/catalog/510000"),
    "GET /pages/halls/{region}": _page("/pages/halls/510000"),
    "GET /pages/catalog/{region}/{batch}/{seq}": _page("/pages/catalog/510000/1/5"),
    "GET /pages/supervision": _page("/pages/supervision"),
    "GET /pages/keys": _page("/pages/keys"),
    "GET /pages/audit": _page("/pages/audit"),
    "POST /pages/audit": _page_post("/pages/audit"),
    "GET /pages/audit/cases": _page("/pages/audit/cases?case={case_id}"),
    "GET /pages/audit/cases/{case_id}": _page("/pages/audit/cases/{case_id}"),
    "GET /pages/audit/checkpoints": _page("/pages/audit/checkpoints"),
    "GET /pages/audit/bodies": _page("/pages/audit/bodies"),
    "GET /pages/audit/bodies/{body_id}": _page("/pages/audit/bodies/510104-RS"),
    "GET /pages/audit/access": _page("/pages/audit/access"),
    "GET /pages/progress": _page("/pages/progress"),
    "POST /pages/progress": _progress_page,
    "POST /pages/rate": _rate_page,
    "POST /licenses": _issue,
    "PUT /licenses/{identifier}/document": _put_document,
    "GET /licenses/{identifier}": _get("/licenses/{identifier}", purpose="核验"),
    "GET /licenses/{identifier}#grant": _read_with_grant,
    "POST /licenses/{identifier}/grants": _make_grant,
    "DELETE /licenses/{identifier}/grants/{grant_id}": _withdraw_grant,
    "GET /licenses/{identifier}/uses": _get("/licenses/{identifier}/uses"),
    "POST /licenses/{identifier}/{action}#suspend": _change_status("suspend"),
    "POST /licenses/{identifier}/{action}#reinstate": _change_status("reinstate"),
    "POST /licenses/{identifier}/{action}#revoke": _change_status("revoke"),
    "GET /relay": _get("/relay"),
    "POST /relay/deliver": _post("/relay/deliver"),
    "POST /peer/steps": _post("/peer/steps"),
    "POST /peer/steps#signed": _relay,
    "GET /peer/cases/{case_id}": _get("/peer/cases/{case_id}", body="320105-ZWFW"),
    "GET /peer/cases/{case_id}#signed": _peer_read,
}


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    with api_node(tmp_path_factory.mktemp("authz")) as node:
        case_id = node.proxy_case()
        job = node.post("/audit/verify", "auditor", content_type=None)
        assert job.status_code == 202, job.text
        checkpoint = node.post("/audit/checkpoint", "admin", content_type=None)
        assert checkpoint.status_code == 200, checkpoint.text
        size = int(checkpoint.text.splitlines()[1])
        # The witness store creates its tables on first use: not a change a test should see.
        node.post("/witness/add-checkpoint", "none", b"", "text/plain")
        licenses.enable_licenses(node)
        peer_calls.configure_peer(node)
        issued = licenses.issue(node)
        yield Fixture(node, case_id, job.json()["job_id"], size, issued)


def _route_of(row: str) -> tuple[str, str]:
    # A row's variant follows `?` (a query) or `#` (e.g. a header, the action).
    method, path = row.split(" ", 1)
    return method, path.split("?", 1)[0].split("#", 1)[0]


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """``(method, path)`` of every route the app answers, whether or not in its OpenAPI
    document (FastAPI flattens included routers for ``iter_route_contexts``)."""
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    for route in iter_route_contexts(app.routes):
        if route.path is not None and route.path not in UNDOCUMENTED_ROUTES:
            served |= {(method, route.path) for method in (route.methods or set()) - {"HEAD"}}
    return served


def test_every_route_has_a_row(fixture: Fixture) -> None:
    """A route the app serves without a row here (or a row for a route it no longer serves)
    fails: every new endpoint must state who may call it."""
    served = served_routes(fixture.node.app)
    rows = {_route_of(row) for row in EXPECTED}
    assert served - rows == set(), f"routes without a row in MATRIX: {sorted(served - rows)}"
    assert rows - served == set(), f"rows for routes the app does not serve: {rows - served}"
    assert set(REQUESTS) == set(EXPECTED), "MATRIX and REQUESTS must name the same rows"
    assert list(next(iter(EXPECTED.values()))) == list(PRINCIPALS)


def test_the_docs_state_the_same_matrix() -> None:
    """``docs/threat-model.md`` carries this table as Markdown; they never drift apart."""
    text = DOCS.read_text()
    start = text.index("<!-- authorization-matrix -->")
    rows: list[str] = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if set(cells[0]) <= {"-", ":"}:
            continue
        rows.append(" ".join(cells))
    assert parse_matrix("\n".join(rows)) == EXPECTED


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


@pytest.mark.parametrize("row", list(EXPECTED))
def test_each_cell_answers_its_status(fixture: Fixture, row: str) -> None:
    wrong = []
    for principal in PRINCIPALS:
        expected = EXPECTED[row][principal]
        send = REQUESTS[row](fixture, principal)
        before = fixture.node.stored() if expected >= 400 else None
        response = send()
        if response.status_code != expected:
            wrong.append(f"{principal}: {response.status_code}, expected {expected}")
            continue
        reason = CONTENT_REFUSALS.get((row, principal))
        if reason is not None:
            assert _problem(response)["reason"] == reason
        elif expected == 401:
            assert _problem(response)["reason"] == "unauthenticated"
            assert response.headers["www-authenticate"].startswith("Bearer")
        elif expected == 403:
            assert _problem(response)["reason"] == "forbidden"
        if before is None:
            continue
        after = fixture.node.stored()
        if reason is not None and row in LOGGED_REFUSALS:
            _assert_one_logged_refusal(fixture, before, after, principal, reason)
        assert after == before, f"{row} as {principal} changed the store"
    assert not wrong, f"{row}: " + "; ".join(wrong)


def _assert_one_logged_refusal(
    fixture: Fixture, before: dict[str, Any], after: dict[str, Any], principal: str, reason: str
) -> None:
    """The use log gained one row, the refusal; ``after`` then takes the old digest so the
    caller compares every other table."""
    (table,) = [name for name in after if name.endswith(USE_LOG)]
    assert after[table][0] == before[table][0] + 1, "a refused grant must be logged once"
    assert fixture.node.services.licenses is not None
    last = fixture.node.services.licenses.store.uses(fixture.license.identifier)[-1]
    assert (last.subject, last.scope) == (
        BODY_OF.get(principal, {"auditor": "auditor-1"}.get(principal, principal)),
        f"refused:{reason}",
    )
    after[table] = before[table]


def test_the_store_digest_covers_the_license_tables(fixture: Fixture) -> None:
    """A refused license request is compared on every license table, documents included."""
    tables = {name.rpartition(":")[2] for name in fixture.node.stored()}
    assert {
        "tongban_license_indexes",
        "tongban_license_documents",
        "tongban_license_doc_keys",
        "tongban_status_lists",
        "tongban_trust_lists",
        "tongban_license_grants",
        USE_LOG,
    } <= tables


def test_only_the_issuer_learns_whether_a_grant_exists(fixture: Fixture) -> None:
    """Found by this matrix: withdrawing looked the grant up before checking the caller, so
    any body of this region told known grant ids (403) from unknown ones (404)."""
    node = fixture.node
    known = _grant(fixture)["grant_id"]
    path = f"/licenses/{fixture.license.identifier}/grants/"
    for grant_id in (known, uuid.uuid4().hex):
        answer = node.client.delete(path + grant_id, headers=node.headers("outsider"))
        assert (answer.status_code, _problem(answer)["reason"]) == (403, "forbidden")
    unknown = node.client.delete(path + uuid.uuid4().hex, headers=node.headers("home"))
    assert (unknown.status_code, _problem(unknown)["reason"]) == (404, "unknown_grant")


def test_a_peer_relays_only_its_own_regions_records(fixture: Fixture) -> None:
    node = fixture.node
    before = node.stored()
    raw = node.key_record(node.world.region, "peer-forged")
    problem = _problem(node.post("/keys/records", "peer", raw))
    assert (problem["status"], problem["field"]) == (403, "region")
    assert node.stored() == before


def test_a_body_token_posts_only_its_own_officers_envelopes(fixture: Fixture) -> None:
    node = fixture.node
    _, raw = node.received("320105-ZWFW")
    before = node.stored()
    for principal in ("home", "outsider", "away"):
        problem = _problem(node.post("/cases", principal, raw))
        assert (problem["status"], problem["field"]) == (403, "actor.body")
    assert node.stored() == before


def test_a_body_lists_only_its_own_cases(fixture: Fixture) -> None:
    node = fixture.node
    # 320105-RS is on no case here (it cannot open one: no window role), so it lists none; an
    # ``all(...)`` over its list held on an empty list and could not fail.
    listed = node.get("/cases", "away", page_size=200).json()
    assert listed["cases"] == [], listed
    assert node.get("/cases", "away", body="510104-RS").status_code == 403
    mine = node.get("/cases", "home", page_size=200).json()["cases"]
    assert str(fixture.case_id) in {c["case_id"] for c in mine}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def configured_node(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ApiNode]:
    yield from configured_api_node(request.param, request, tmp_path, monkeypatch)


def test_tokens_the_cli_creates_and_revokes_are_the_nodes(
    configured_node: ApiNode, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by this test: with ``TONGBAN_DATABASE_SCHEMA`` set, ``tongban token`` used the
    public schema, so the node never saw the tokens it created, nor their revocation."""
    node = configured_node
    data_dir = ["--data-dir", str(node.data_dir)]
    assert main(["token", "create", "--auditor", "cli-auditor", *data_dir]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert node.client.get("/audit/events", headers=headers).status_code == 200
    assert main(["token", "list", *data_dir]) == 0
    assert "cli-auditor" in capsys.readouterr().out
    assert main(["token", "revoke", token, *data_dir]) == 0
    refused = node.client.get("/audit/events", headers=headers)
    assert (refused.status_code, refused.json()["reason"]) == (401, "unauthenticated")
