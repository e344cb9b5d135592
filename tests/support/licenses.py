"""Licenses on the in-process node of :mod:`tests.support.api_node`, issued the real way.

:func:`enable_licenses` certifies a license key for ``510104-RS`` (the home body) and publishes
Sichuan's trust list; then :func:`delivered_case` runs a proxy case to its ``delivered`` step
and :func:`prepare` / :func:`issue` make its 社会保障卡 through the two-step issuance of
``docs/license.md`` §12.1 (``api.license_client``), as the issuing body's system does.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from adapters.keyfiles import write_key
from adapters.license_seals import seal_path
from api.client import TongbanClient
from api.license_client import (
    IssuedLicense,
    PreparedIssuance,
    identifier_for,
    issue_license,
    prepare_issuance,
)
from ledger.admin import RegistryClerk
from ledger.application import now_micros
from ledger.license_events import license_stream_id
from licenses.trust_lists import sign_trust_list
from tests.support.api_node import APPLICANT, BODY_OF, OFFICER_OF, ApiNode
from tests.support.world import START, seeded

CARD = "11100000TB0000010H001"  # 社会保障卡, a holder of kind ric
RS_USCC = "11510104MB0000123N"
ISSUER = "510104-RS"
HOLDER_ID = APPLICANT["id_number"]  # the holder of every license here (proxy_case's applicant)
LICENSE_KEY = seeded("license/510104-RS")
DAY = 86_400_000_000
MAIL = {"courier": "EMS", "tracking_number": "EMS123456789CN"}


def enable_licenses(node: ApiNode) -> None:
    """The home body's license key in the registry; Sichuan's trust list (version 1)."""
    ledger = node.services.ledger
    clerk = RegistryClerk(ledger, node.world.region)
    clerk.certify_license_key(node.world.root, ISSUER, LICENSE_KEY.public_key, valid_from=START)
    assert node.services.licenses is not None
    node.services.licenses.publish_trust_list(trust_list(node, 1))


def install_seal(node: ApiNode, body_id: str = ISSUER) -> Path:
    """The body's license key as the node's seal for the officers' pages (0600), as an
    operator puts it (``adapters/license_seals.py``)."""
    path = seal_path(node.data_dir, body_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    if not path.exists():
        write_key(path, LICENSE_KEY)
    return path


def trust_list(node: ApiNode, version: int) -> bytes:
    """Sichuan's trust list signed by its root: it recognizes its own 社会保障卡."""
    ledger = node.services.ledger
    ledger.refresh_registry()
    now = now_micros()
    return sign_trust_list(
        ledger.registry,
        node.world.root,
        region=node.world.region,
        version=version,
        issued_at=now,
        valid_until=now + 400 * DAY,
        issuer_codes={ISSUER: RS_USCC},
        recognition={CARD: [node.world.region]},
    )


def client(node: ApiNode, body_id: str = ISSUER) -> TongbanClient:
    """The body's system as its officer, talking to the in-process node."""
    principal = next(p for p, b in BODY_OF.items() if b == body_id)
    officer_id = OFFICER_OF[body_id]
    answer = TongbanClient(
        "http://testserver",
        node.tokens[principal],
        node.world.officers[officer_id].signer,
        body_id=body_id,
        officer_id=officer_id,
    )
    answer.http = TestClient(
        node.app, headers={"Authorization": f"Bearer {node.tokens[principal]}"}
    )
    return answer


def delivered_case(node: ApiNode, applicant: dict[str, str] | None = None) -> tuple[uuid.UUID, str]:
    """A proxy case approved by the home body and delivered, naming its license identifier."""
    case_id = node.proxy_case(applicant)
    identifier = identifier_for(case_id, CARD, RS_USCC).text
    for step, body in (
        ("arrived", {"note": ""}),
        ("accepted", {"note": ""}),
        ("decided", {"result": "approved", "reasons": [], "basis": "社会保障卡管理办法"}),
        ("mailed", {"leg": "home_to_applicant", **MAIL}),
        ("delivered", {"method": "post", "results": [identifier]}),
    ):
        answer = node.step(case_id, ISSUER, step, body)
        assert answer.status_code == 201, answer.text
    return case_id, identifier


def _options() -> dict[str, Any]:
    return {
        "face": {"card_no": "A12345678"},
        "issued_on": date(2026, 1, 1),
        "valid_until": date(2035, 12, 31),
    }


def prepare(node: ApiNode, applicant: dict[str, str] | None = None) -> PreparedIssuance:
    """A delivered case's license, prepared and signed but not posted."""
    case_id, identifier = delivered_case(node, applicant)
    return prepare_issuance(client(node), LICENSE_KEY, case_id, identifier, **_options())


def issue(node: ApiNode, applicant: dict[str, str] | None = None) -> IssuedLicense:
    """A delivered case's license, issued (event appended, issued document kept)."""
    case_id, identifier = delivered_case(node, applicant)
    return issue_license(client(node), LICENSE_KEY, case_id, identifier, **_options())


def post_draft(node: ApiNode, prepared: PreparedIssuance) -> int:
    """Step 2 of issuance: the event and draft posted; answers the issuance's ledger index."""
    answer = node.client.post(
        "/licenses",
        json={
            "event": base64.b64encode(prepared.event).decode(),
            "document": base64.b64encode(prepared.draft).decode(),
        },
        headers=node.headers("home"),
    )
    assert answer.status_code == 201, answer.text
    index: int = answer.json()["index"]
    return index


def status_event(node: ApiNode, identifier: str, action: str, body_id: str = ISSUER) -> bytes:
    """A ``license_<action>ed`` event on the license's head, signed by ``body_id``'s officer."""
    event_type = {
        "suspend": "license_suspended",
        "reinstate": "license_reinstated",
        "revoke": "license_revoked",
    }[action]
    state = node.services.ledger.head(license_stream_id(identifier))
    return node.envelope(
        body_id,
        license_stream_id(identifier),
        state.seq + 1,
        state.event_hash,
        event_type,
        {"reason": "核查"},
    )


def grant_request(**changes: Any) -> dict[str, Any]:
    """A grant the holder asks for at the issuer: Jiangsu (any body or its peer) may read it
    all, once, for a day; ``changes`` replace fields."""
    body: dict[str, Any] = {
        "holder_code": HOLDER_ID,
        "audience_region": "320000",
        "audience_body": "",
        "scope": ["metadata", "face", "document"],
        "purpose": "异地办理社保转移",
        "expires_at": now_micros() + DAY,
        "uses": 1,
    }
    return {**body, **changes}


def post_grant(
    node: ApiNode, identifier: str, principal: str = "home", **changes: Any
) -> httpx.Response:
    answer: httpx.Response = node.client.post(
        f"/licenses/{identifier}/grants",
        json=grant_request(**changes),
        headers=node.headers(principal),
    )
    return answer


def grant(node: ApiNode, identifier: str, **changes: Any) -> dict[str, Any]:
    """A grant made (:func:`grant_request`): ``{grant_id, grant}``."""
    answer = post_grant(node, identifier, **changes)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made
