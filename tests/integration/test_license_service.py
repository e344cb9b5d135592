"""The license service through the HTTP API, in process: Sichuan issues, Jiangsu verifies.

Sichuan's node (510000) runs on SQLite and on PostgreSQL (the contract: every test runs on
both); Jiangsu's (320000) is a second in-process node on SQLite that reaches Sichuan through a
``fetch`` function routed to Sichuan's app. Both share the test clock (2026-01-01 and after).
One test per verdict reason, the status lists, the grants and use log, and the refusals of bad
input (a 4xx naming the field, nothing stored).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.access import open_access_store
from adapters.bootstrap import NodeServices, open_ledger, open_licenses
from adapters.keyfiles import write_trusted_roots
from adapters.settings import Settings
from adapters.vault import open_vault
from api.app import create_app
from api.client import TongbanClient
from api.license_client import IssuedLicense, change_status, identifier_for, issue_license
from ledger import canonical
from ledger.admin import RegistryClerk
from ledger.audit import verify_ledger
from ledger.license_events import license_stream_id
from ledger.suites import Ed25519Signer, SoftwareSigner
from ledger.workflow import CaseWorkflow
from licenses.compact import document_digest, encode_compact
from licenses.document import parse_license
from licenses.grant import parse_grant
from licenses.service import LicenseService
from licenses.status import LicenseStatus, parse_status_list
from licenses.trust import TrustListRejected, day_bounds
from licenses.trust_lists import sign_trust_list
from tests.support.world import START, World, make_world, seeded

CARD = "11100000TB0000010H001"  # 社会保障卡: Jiangsu accepts it from Sichuan
EMPLOYMENT = "11100000TB0000010H002"  # 就业创业证: Jiangsu does not
RS_USCC = "11510104MB0000123N"
HOLDER = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"}
MAIL = {"courier": "EMS", "tracking_number": "EMS123456789CN"}
DAY = 86_400_000_000


@dataclass
class Node:
    services: NodeServices
    http: TestClient
    tokens: dict[str, str]

    @property
    def licenses(self) -> LicenseService:
        assert self.services.licenses is not None
        return self.services.licenses

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return self.http.request(method, path, headers=headers, **kwargs)


@dataclass
class Regions:
    world: World
    sc: Node
    js: Node
    license_key: Ed25519Signer

    def client(self, officer_id: str) -> TongbanClient:
        officer = self.world.officers[officer_id]
        client = TongbanClient(
            "http://sichuan",
            self.sc.tokens[officer.body_id],
            officer.signer,
            body_id=officer.body_id,
            officer_id=officer_id,
            clock=self.world.clock,
        )
        client.http = TestClient(
            self.sc.http.app,
            base_url="http://sichuan",
            headers={"Authorization": f"Bearer {self.sc.tokens[officer.body_id]}"},
        )
        return client

    def delivered_case(self, type_code: str = CARD) -> tuple[uuid.UUID, str]:
        """A Jiangsu window's proxy case approved in Sichuan, delivered with its license id."""
        window, home = self.client("js-001"), self.client("rs-001")
        case_id = window.receive(
            "510000/2/23",
            "proxy",
            HOLDER,
            home_body="510104-RS",
            jurisdiction="510104",
            materials=[("申请表", hashlib.sha256(b"form").digest())],
        ).case_id
        identifier = identifier_for(case_id, type_code, RS_USCC).text
        window.step(
            case_id, "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}
        )
        window.step(case_id, "mailed", {"leg": "window_to_home", **MAIL})
        home.step(case_id, "arrived", {"note": ""})
        home.step(case_id, "accepted", {"note": ""})
        home.step(
            case_id, "decided", {"result": "approved", "reasons": [], "basis": "社会保障卡管理办法"}
        )
        home.step(case_id, "mailed", {"leg": "home_to_applicant", **MAIL})
        home.step(case_id, "delivered", {"method": "post", "results": [identifier]})
        return case_id, identifier

    def issue(self) -> IssuedLicense:
        case_id, identifier = self.delivered_case()
        return issue_license(
            self.client("rs-001"),
            self.license_key,
            case_id,
            identifier,
            face={"card_no": "A12345678"},
            issued_on=date(2026, 1, 1),
            valid_until=date(2035, 12, 31),
        )

    def verify(self, presented: str | bytes, **options: Any) -> dict[str, Any]:
        body: dict[str, Any] = dict(options)
        if isinstance(presented, str):
            body["license"] = presented
        else:
            body["document"] = base64.b64encode(presented).decode()
        answer = self.js.call("POST", "/licenses/verify", json=body)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def compact(self, signer: Ed25519Signer | None = None, **changes: Any) -> str:
        """A compact license signed by ``signer`` (Sichuan's license key by default)."""
        fields: dict[str, Any] = {
            "identifier": identifier_for(uuid.uuid4(), CARD, RS_USCC),
            "valid_from": date(2026, 1, 1),
            "valid_until": date(2035, 12, 31),
            "status_list_id": "510000-1",
            "status_index": 5,
            "holder_name": "张三",
            "holder_id": HOLDER["id_number"],
            "document_digest": document_digest(b"the full document"),
        }
        fields.update(changes)
        return encode_compact(signer or self.license_key, **fields)


def _node(
    settings: Settings, world_app: Any, clock: Any, schema: str | None, tokens: dict[str, str]
) -> tuple[NodeServices, dict[str, str]]:
    url = settings.resolved_database_url()
    vault = open_vault(
        settings.database_url, settings.data_dir, b"\1" * 32, schema=schema or "public"
    )
    access = open_access_store(settings.database_url, settings.data_dir, schema=schema)
    assert url
    licenses = open_licenses(settings, world_app, vault, schema)
    services = NodeServices(settings, world_app, vault, access, clock, licenses)
    now = datetime.now(UTC)
    made = {}
    for name, principal in tokens.items():
        kind, subject = principal.split(":")
        made[name] = access.create_token(kind, subject, now=now)[0]
    return services, made


def _publish(
    world_app: Any,
    root: SoftwareSigner,
    region: str,
    node: Node,
    version: int,
    accept: dict[str, list[str]],
    codes: dict[str, str],
    now: int,
) -> bytes:
    world_app.refresh_registry()
    raw = sign_trust_list(
        world_app.registry,
        root,
        region=region,
        version=version,
        issued_at=now,
        valid_until=now + 400 * DAY,
        issuer_codes=codes,
        recognition=accept,
    )
    node.licenses.publish_trust_list(raw)
    return raw


def _regions(tmp: Path, database_url: str = "", schema: str | None = None) -> Iterator[Regions]:
    sc_dir, js_dir = tmp / "sc", tmp / "js"
    sc_dir.mkdir()
    world = make_world(
        sc_dir, database_url=database_url, schema=schema, workflow=CaseWorkflow(), with_jiangsu=True
    )
    license_key = seeded("license/510104-RS")
    world.clerk.certify_license_key(
        world.root, "510104-RS", license_key.public_key, valid_from=START
    )
    sc_settings = Settings(
        data_dir=sc_dir,
        database_url=database_url,
        database_schema=schema or "",
        region="510000",
        witness_push_seconds=0,
    )
    sc_services, sc_tokens = _node(
        sc_settings,
        world.app,
        world.clock,
        schema,
        {
            "510104-RS": "body:510104-RS",
            "510000-ZWFW": "body:510000-ZWFW",
            "320105-ZWFW": "body:320105-ZWFW",
            "peer": "peer:320000",
            "peer-gd": "peer:440000",
            "auditor": "auditor:auditor",
            "admin": "admin:admin",
        },
    )
    sc_http = TestClient(create_app(services=sc_services), base_url="http://sichuan")
    sc = Node(sc_services, sc_http, sc_tokens)

    # Jiangsu: its own ledger (SQLite), root and node key; pins Sichuan's root.
    js_root = seeded("root/320000")
    js_dir.mkdir()
    write_trusted_roots(
        js_dir / "trust.json", {"320000": js_root.public_key, "510000": world.root.public_key}
    )
    js_settings = Settings(data_dir=js_dir, region="320000", witness_push_seconds=0)
    js_app = open_ledger(js_settings, clock=world.clock)
    js_clerk = RegistryClerk(js_app, "320000")
    js_clerk.establish_root(js_root, valid_from=START)
    assert js_app.node_signer is not None
    js_clerk.certify_node(js_root, js_app.node_signer.public_key, "js-node", valid_from=START)

    def fetch(url: str) -> bytes:
        answer = sc_http.get(url)
        if answer.status_code != 200:
            raise OSError(f"{url}: {answer.status_code}")
        content: bytes = answer.content
        return content

    js_services, js_tokens = _node(js_settings, js_app, world.clock, None, {"admin": "admin:admin"})
    assert js_services.licenses is not None
    js_services.licenses.fetch = fetch
    js = Node(
        js_services,
        TestClient(create_app(services=js_services), base_url="http://jiangsu"),
        js_tokens,
    )

    now = world.clock()
    _publish(
        world.app,
        world.root,
        "510000",
        sc,
        1,
        {CARD: ["510000"], EMPLOYMENT: ["510000"]},
        {"510104-RS": RS_USCC},
        now,
    )
    _publish(js_app, js_root, "320000", js, 1, {CARD: ["320000", "510000"]}, {}, now)
    js.licenses.fetch_peer("http://sichuan")
    try:
        yield Regions(world, sc, js, license_key)
    finally:
        sc_services.close()
        js_services.close()
        js_app.close()
        world.app.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def regions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Regions]:
    if request.param == "sqlite":
        yield from _regions(tmp_path)
        return
    url = request.getfixturevalue("postgres_url")
    yield from _regions(tmp_path, url, request.getfixturevalue("postgres_schema"))


def _tampered(document: bytes, **changes: Any) -> bytes:
    """The document with content fields changed and the old signature kept."""
    content, signature = canonical.decode(document)
    fields = canonical.decode(content)
    fields.update(changes)
    return bytes(canonical.encode([canonical.encode(fields), signature]))


def _failed(verdict: dict[str, Any], reason: str) -> None:
    assert verdict["valid"] is False
    assert verdict["primary"] == reason, verdict


# -- issuance ----------------------------------------------------------------------------------


def test_an_approved_case_yields_a_license_that_jiangsu_verifies(regions: Regions) -> None:
    issued = regions.issue()
    document = parse_license(issued.document)
    assert document.issuance_index == issued.index
    state = regions.world.app.license_state(issued.identifier)
    assert (state.state, state.issuance_index) == ("issued", issued.index)
    ok: dict[str, object] = {"valid": True, "primary": None, "failed": []}
    for verdict in (
        regions.verify(issued.compact),
        regions.verify(issued.document, holder_code=HOLDER["id_number"]),
    ):
        assert {name: verdict[name] for name in ok} == ok
        assert verdict["status_source"] == "online"
        assert [used["id"] for used in verdict["trust_lists"]] == ["510000", "320000"]
    # Sichuan keeps the issued document (encrypted) and serves it to its issuer.
    mine = regions.sc.call("GET", f"/licenses/{issued.identifier}", "510104-RS").json()
    assert base64.b64decode(mine["document"]) == issued.document
    assert regions.sc.licenses.store.document(issued.identifier, "issued") == issued.document


def test_status_entries_are_never_given_twice(regions: Regions) -> None:
    first = regions.issue()
    case_id, identifier = regions.delivered_case()
    before = regions.world.app.store.max_index()
    taken = parse_license(first.document).status
    client = regions.client("rs-001")
    event, draft = _issuance(regions, client, case_id, identifier, entry=(taken.list, taken.index))
    answer = _post_issuance(regions, event, draft)
    assert answer.status_code == 409, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == (
        "status_index_taken",
        "body.status.index",
    )
    assert regions.world.app.store.max_index() == before
    assert regions.sc.licenses.store.document(identifier, "draft") is None


def _issuance(
    regions: Regions,
    client: TongbanClient,
    case_id: uuid.UUID,
    identifier: str,
    *,
    entry: tuple[str, int] | None = None,
    digest: bytes | None = None,
) -> tuple[bytes, bytes]:
    """``(event, draft)`` as ``issue_license`` makes them, with a chosen status entry or
    event digest (what a faulty or malicious client could send)."""
    from licenses.document import Holder, Issuer, StatusEntry, build_license
    from licenses.identifiers import HolderKind, parse_identifier

    prepared = client.http_json(
        "POST", "/licenses/prepare", {"case": str(case_id), "identifier": identifier}
    )
    list_id, index = entry or (prepared["status"]["list"], prepared["status"]["index"])
    draft = build_license(
        regions.license_key,
        identifier=parse_identifier(identifier),
        name="社会保障卡",
        number="1",
        holder=Holder("张三", HOLDER["id_number"], HolderKind.RIC),
        issuer=Issuer("锦江区人社局", RS_USCC, "510104-RS"),
        issued_on=date(2026, 1, 1),
        valid_from=date(2026, 1, 1),
        valid_until=None,
        jurisdiction="510104",
        face={
            "holder_name": "张三",
            "social_security_no": HOLDER["id_number"],
            "card_no": "1",
            "issued_on": "2026-01-01",
        },
        ledger="tongban/510000",
        case_id=case_id,
        issuance_index=0,
        status=StatusEntry(list_id, index),
    )
    event = client.sign(
        license_stream_id(identifier),
        1,
        bytes(32),
        "license_issued",
        {
            "id": identifier,
            "type": CARD,
            "issuer_body": "510104-RS",
            "case": str(case_id),
            "delivered_seq": prepared["delivered_seq"],
            "holder_commitment": base64.b64decode(prepared["holder_commitment"]),
            "status": {"list": list_id, "index": index},
            "valid_from": "2026-01-01",
            "valid_until": "",
            "document_digest": digest or parse_license(draft, allow_draft=True).digest,
        },
    )
    return event, draft


def _post_issuance(regions: Regions, event: bytes, draft: bytes | str) -> Any:
    document = draft if isinstance(draft, str) else base64.b64encode(draft).decode()
    return regions.sc.call(
        "POST",
        "/licenses",
        "510104-RS",
        json={"event": base64.b64encode(event).decode(), "document": document},
    )


def test_a_draft_that_disagrees_with_its_event_is_refused_and_nothing_is_stored(
    regions: Regions,
) -> None:
    case_id, identifier = regions.delivered_case()
    before = regions.world.app.store.max_index()
    client = regions.client("rs-001")
    event, draft = _issuance(regions, client, case_id, identifier, digest=b"\7" * 32)
    for document, reason, field in (
        (draft, "document_mismatch", "document.digest"),
        (b"\x92\xc4\x00", "malformed", "document"),
        ("not base64!", "malformed", "document"),
        (
            _tampered(
                draft, holder={"name": "李四", "code": "510104199001011234", "code_type": "ric"}
            ),
            "bad_holder_code",
            "document.holder.code",
        ),
    ):
        answer = _post_issuance(regions, event, document)
        assert answer.status_code == 422, answer.text
        assert (answer.json()["reason"], answer.json()["field"]) == (reason, field)
    # The event names the draft's digest, but the draft's holder is not the case's applicant.
    other = _tampered(
        draft, holder={"name": "李四", "code": "510104199001011230", "code_type": "ric"}
    )
    other = _tampered(
        other,
        face={
            **parse_license(draft, allow_draft=True).face,
            "social_security_no": "510104199001011230",
        },
    )
    event, _ = _issuance(
        regions, client, case_id, identifier, digest=parse_license(other, allow_draft=True).digest
    )
    answer = _post_issuance(regions, event, other)
    assert (answer.json()["reason"], answer.json()["field"]) == (
        "document_mismatch",
        "document.holder.code",
    )
    answer = regions.sc.call("POST", "/licenses", "510104-RS", json={"event": "", "document": ""})
    assert answer.status_code == 422
    assert regions.world.app.store.max_index() == before
    assert regions.sc.licenses.store.document(identifier, "draft") is None


def test_only_the_issuing_body_of_this_region_issues_and_changes_status(regions: Regions) -> None:
    issued = regions.issue()
    for token in ("320105-ZWFW", "peer", "auditor"):
        answer = regions.sc.call(
            "POST",
            f"/licenses/{issued.identifier}/revoke",
            token,
            content=b"\x90",
            headers={"Content-Type": "application/msgpack"},
        )
        assert answer.status_code == 403, (token, answer.text)
    # An officer of another Sichuan body signs a revocation: refused, the license unchanged.
    zw = regions.client("zw-001")
    zw.http.headers["Authorization"] = f"Bearer {regions.sc.tokens['510000-ZWFW']}"
    with pytest.raises(Exception) as refused:
        change_status(zw, issued.identifier, "revoke", "无权")
    assert getattr(refused.value, "status", None) == 403
    assert regions.world.app.license_state(issued.identifier).state == "issued"


# -- status lists --------------------------------------------------------------------------------


def test_status_lists_follow_the_ledger_and_get_a_new_version_each_change(regions: Regions) -> None:
    issued = regions.issue()
    entry = parse_license(issued.document).status
    versions = []
    expected = []
    for action, status in (
        (None, LicenseStatus.VALID),
        ("suspend", LicenseStatus.SUSPENDED),
        ("reinstate", LicenseStatus.VALID),
        ("revoke", LicenseStatus.REVOKED),
    ):
        if action:
            change_status(regions.client("rs-001"), issued.identifier, action, "核查")
        raw = regions.sc.call("GET", f"/status-lists/{entry.list}").content
        status_list = parse_status_list(raw)
        assert regions.sc.services.ledger.node_signer is not None
        status_list.verify(regions.sc.services.ledger.node_signer.public_key)
        assert status_list.status_at(entry.index) is status
        assert status_list.valid_until == status_list.issued_at + 24 * 3600 * 1_000_000
        versions.append(status_list.version)
        expected.append(status)
    assert versions == sorted(set(versions))
    again = parse_status_list(regions.sc.call("GET", f"/status-lists/{entry.list}").content)
    assert again.version == versions[-1]  # nothing changed: the same list
    assert regions.sc.call("GET", "/status-lists/320000-1").status_code == 404
    # A reinstatement after revocation is refused: revoked is final.
    with pytest.raises(Exception) as refused:
        change_status(regions.client("rs-001"), issued.identifier, "reinstate", "误")
    assert getattr(refused.value, "reason", None) == "illegal_step"


def test_an_unknown_status_action_is_refused_before_anything_is_signed(regions: Regions) -> None:
    issued = regions.issue()
    with pytest.raises(ValueError, match="suspend, reinstate, revoke"):
        change_status(regions.client("rs-001"), issued.identifier, "revok", "typo")
    answer = regions.sc.call("GET", f"/licenses/{issued.identifier}", "510104-RS").json()
    assert answer["state"] == "issued"


def test_status_lists_are_derived_once_per_ledger_index(
    regions: Regions, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = regions.issue()
    entry = parse_license(issued.document).status
    service = regions.sc.licenses
    service.status_list(entry.list)
    reads: list[object] = []
    get = service.ledger.repository.get

    def counted_get(*a: Any, **k: Any) -> Any:
        reads.append(a)
        return get(*a, **k)

    monkeypatch.setattr(service.ledger.repository, "get", counted_get)
    assert service.derive_status_list(entry.list).get(entry.index) is LicenseStatus.VALID
    assert reads == []  # nothing appended since: no license stream read again
    change_status(regions.client("rs-001"), issued.identifier, "suspend", "核查")
    assert service.derive_status_list(entry.list).get(entry.index) is LicenseStatus.SUSPENDED
    assert reads


# -- one test per verdict reason (Jiangsu's API) ---------------------------------------------------


def test_forged_with_an_untrusted_key_is_unknown_issuer(regions: Regions) -> None:
    _failed(regions.verify(regions.compact(seeded("not certified anywhere"))), "unknown_issuer")


def test_altered_by_one_field_is_bad_signature(regions: Regions) -> None:
    issued = regions.issue()
    _failed(regions.verify(_tampered(issued.document, number="B99999999")), "bad_signature")


def test_expired(regions: Regions) -> None:
    text = regions.compact(valid_until=date(2026, 1, 1))
    regions.world.clock.advance(3 * 86_400)
    _failed(regions.verify(text), "expired")


def test_not_yet_valid(regions: Regions) -> None:
    _failed(regions.verify(regions.compact(valid_from=date(2026, 6, 1))), "not_yet_valid")


def test_suspended_and_revoked_are_seen_online_at_once(regions: Regions) -> None:
    issued = regions.issue()
    change_status(regions.client("rs-001"), issued.identifier, "suspend", "核查")
    _failed(regions.verify(issued.compact), "suspended")
    change_status(regions.client("rs-001"), issued.identifier, "revoke", "注销")
    _failed(regions.verify(issued.compact), "revoked")


def test_a_type_jiangsu_does_not_recognize(regions: Regions) -> None:
    text = regions.compact(identifier=identifier_for(uuid.uuid4(), EMPLOYMENT, RS_USCC))
    assert regions.sc.call("POST", "/licenses/verify", json={"license": text}).json()["valid"]
    _failed(regions.verify(text), "not_recognized")


def test_holder_mismatch(regions: Regions) -> None:
    issued = regions.issue()
    _failed(regions.verify(issued.document, holder_code="510104199001011234"), "holder_mismatch")


def test_status_unavailable_offline_without_a_fresh_list(regions: Regions) -> None:
    text = regions.compact()
    _failed(regions.verify(text, online=False), "status_unavailable")
    regions.js.licenses.fetch_peer("http://sichuan", ["510000-1"])
    assert regions.verify(text, online=False)["valid"] is True
    regions.world.clock.advance(25 * 3600)  # past the cached list's valid_until
    _failed(regions.verify(text, online=False), "status_unavailable")


def test_the_issuing_node_checks_its_own_licenses_offline_against_what_it_published(
    regions: Regions,
) -> None:
    """Offline, the issuing node holds its own lists as it published them (it answered
    status_unavailable for every license of its own, a list it published notwithstanding)."""
    issued = regions.issue()

    def at_sichuan() -> dict[str, Any]:
        answer = regions.sc.call(
            "POST", "/licenses/verify", json={"license": issued.compact, "online": False}
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    _failed(at_sichuan(), "status_unavailable")  # nothing published yet
    assert regions.sc.call("GET", "/status-lists/510000-1").status_code == 200
    verdict = at_sichuan()
    assert verdict["valid"] is True and verdict["status_source"] == "status_list"
    change_status(regions.client("rs-001"), issued.identifier, "revoke", "注销")
    revoked = at_sichuan()  # a status change publishes the list at once: version 2
    _failed(revoked, "revoked")
    assert revoked["status_list"]["version"] == 2


def test_an_offline_verdict_names_the_list_and_its_age(regions: Regions) -> None:
    text = regions.compact()
    regions.js.licenses.fetch_peer("http://sichuan", ["510000-1"])
    verdict = regions.verify(text, online=False)
    assert verdict["valid"] is True and verdict["status_source"] == "status_list"
    used = verdict["status_list"]
    assert used["id"] == "510000-1" and used["valid_until"] > used["issued_at"]
    regions.world.clock.advance(3600)  # an hour later
    # A verifier that wants a list at most half an hour old: the status is unknown.
    strict = regions.verify(text, online=False, max_status_age=1800)
    _failed(strict, "status_unavailable")
    assert strict["status_list"] == used and "maximum age" in strict["status_detail"]
    assert regions.verify(text, online=False, max_status_age=86_400)["valid"] is True
    regions.world.clock.advance(25 * 3600)  # past valid_until: unknown, and the list is named
    expired = regions.verify(text, online=False)
    _failed(expired, "status_unavailable")
    assert expired["status_list"] == used and "expired" in expired["status_detail"]


def test_max_status_age_must_be_a_number_of_seconds(regions: Regions) -> None:
    for bad in (True, -1, "1h"):
        answer = regions.js.call(
            "POST", "/licenses/verify", json={"license": regions.compact(), "max_status_age": bad}
        )
        assert answer.status_code == 422, (bad, answer.text)


def test_a_boolean_is_no_number_in_a_grant_and_no_number_is_a_boolean(regions: Regions) -> None:
    issued = regions.issue()
    changes: tuple[dict[str, Any], ...] = ({"uses": True}, {"expires_at": True})
    for change in changes:
        answer = _grant(regions, issued.identifier, **change)
        assert answer.status_code == 422, (change, answer.text)
    answer = regions.js.call(
        "POST", "/licenses/verify", json={"license": issued.compact, "online": 1}
    )
    assert answer.status_code == 422, answer.text


def test_malformed(regions: Regions) -> None:
    _failed(regions.verify("TB1:NOT A LICENSE"), "malformed")
    _failed(regions.verify(b"\x92\xc4\x01x\xc4\x00"), "malformed")


def test_bad_check_character(regions: Regions) -> None:
    issued = regions.issue()
    identifier = issued.identifier
    wrong = identifier[:-1] + ("A" if identifier[-1] != "A" else "B")
    _failed(regions.verify(_tampered(issued.document, id=wrong)), "bad_check_character")


def test_unsupported_suite(regions: Regions) -> None:
    issued = regions.issue()
    _failed(regions.verify(_tampered(issued.document, suite="rsa-pss-sha512")), "unsupported_suite")


def test_issuer_key_not_valid(regions: Regions) -> None:
    # Signed "on" 2025-12-01 (the compact form's first day), before the key was certified.
    text = regions.compact(valid_from=date(2025, 12, 1))
    _failed(regions.verify(text), "issuer_key_not_valid")


def test_unknown_issuer_when_the_key_is_another_bodys(regions: Regions) -> None:
    issued = regions.issue()
    other = "11330105002500287C"
    text = regions.compact(identifier=identifier_for(uuid.uuid4(), CARD, other))
    _failed(regions.verify(text), "unknown_issuer")
    # The same key on its own body's license verifies: only the issuer code is refused.
    assert regions.verify(issued.compact)["valid"] is True


def test_verify_refuses_bad_requests_naming_the_field(regions: Regions) -> None:
    for body, field in (
        ({}, "license"),
        ({"license": "TB1:X", "document": "AA=="}, "license"),
        ({"document": "@@@"}, "document"),
        ({"license": 5}, "license"),
    ):
        answer = regions.js.call("POST", "/licenses/verify", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field


# -- trust lists -----------------------------------------------------------------------------------


def test_trust_lists_not_signed_by_a_configured_root_are_refused(regions: Regions) -> None:
    now = regions.world.clock()
    forged = sign_trust_list(
        regions.world.app.registry,
        seeded("an impostor root"),
        region="510000",
        version=9,
        issued_at=now,
        valid_until=now + DAY,
        issuer_codes={"510104-RS": RS_USCC},
        recognition={},
    )
    with pytest.raises(TrustListRejected) as refused:
        regions.js.licenses.keep_trust_list(forged, "http://sichuan")
    assert refused.value.reason == "wrong_key"
    held = regions.js.licenses.store.trust_lists()["510000"]
    assert held[0] == 1  # the genuine list is still the one held
    answer = regions.sc.call(
        "POST",
        "/trust-list",
        "admin",
        content=forged,
        headers={"Content-Type": "application/msgpack"},
    )
    assert answer.status_code == 422 and answer.json()["reason"] == "wrong_key"
    stale = regions.sc.licenses.trust_list()
    answer = regions.sc.call(
        "POST",
        "/trust-list",
        "510104-RS",
        content=stale,
        headers={"Content-Type": "application/msgpack"},
    )
    assert answer.status_code == 403


def test_offline_a_revocation_is_seen_once_the_newer_list_is_fetched(regions: Regions) -> None:
    issued = regions.issue()
    regions.js.licenses.fetch_peer("http://sichuan", ["510000-1"])
    assert regions.verify(issued.compact, online=False)["valid"] is True
    change_status(regions.client("rs-001"), issued.identifier, "revoke", "注销")
    # The list held offline predates the revocation: it still speaks until refreshed.
    assert regions.verify(issued.compact, online=False)["valid"] is True
    regions.js.licenses.fetch_peer("http://sichuan", ["510000-1"])
    _failed(regions.verify(issued.compact, online=False), "revoked")
    _failed(regions.verify(issued.document, online=False), "revoked")


def test_an_online_check_the_issuer_does_not_answer_says_so_beside_the_held_list(
    regions: Regions,
) -> None:
    text = regions.compact()
    regions.js.licenses.fetch_peer("http://sichuan", ["510000-1"])

    def unreachable(url: str) -> bytes:
        raise ConnectionRefusedError(111, "Connection refused")

    regions.js.licenses.fetch = unreachable
    verdict = regions.verify(text)
    # Valid from the held list, as before; but the clerk asked the issuer and is now told that
    # it did not answer (the answer was the held list's, silently, before).
    assert verdict["valid"] is True and verdict["status_source"] == "status_list"
    assert verdict["online_detail"].startswith("http://sichuan/status-lists/510000-1: ")
    assert "Connection refused" in verdict["online_detail"]
    assert regions.verify(text, online=False)["online_detail"] is None


def test_a_key_revoked_in_the_trust_list_stops_vouching(regions: Regions) -> None:
    regions.world.clock.advance(2 * 86_400)  # 2026-01-03
    text = regions.compact(valid_from=date(2026, 1, 2))
    assert regions.verify(text)["valid"]
    revoked_at = day_bounds(date(2026, 1, 1))[0]
    regions.world.clerk.revoke(
        regions.world.root, regions.license_key.key_id, compromised_since=revoked_at
    )
    _publish(
        regions.world.app,
        regions.world.root,
        "510000",
        regions.sc,
        2,
        {CARD: ["510000"]},
        {"510104-RS": RS_USCC},
        regions.world.clock(),
    )
    regions.js.licenses.fetch_peer("http://sichuan")
    _failed(regions.verify(text), "issuer_key_not_valid")


# -- grants and the use log ----------------------------------------------------------------


def _grant(regions: Regions, identifier: str, token: str = "510104-RS", **changes: Any) -> Any:
    body: dict[str, Any] = {
        "holder_code": HOLDER["id_number"],
        "audience_region": "320000",
        "scope": ["metadata"],
        "purpose": "就业登记核验",
        "expires_at": regions.world.clock.now + DAY,
        "uses": 2,
    }
    body.update(changes)
    return regions.sc.call("POST", f"/licenses/{identifier}/grants", token, json=body)


def test_a_peer_sees_status_and_with_a_grant_the_metadata_every_read_logged(
    regions: Regions,
) -> None:
    issued = regions.issue()
    path = f"/licenses/{issued.identifier}"
    status = regions.sc.call("GET", path, "peer", params={"purpose": "核验"}).json()
    assert (status["status"], status["metadata"], status["document"]) == ("valid", None, None)
    grant = _grant(regions, issued.identifier)
    assert grant.status_code == 201, grant.text
    header = {"Tongban-Grant": grant.json()["grant"]}
    full = regions.sc.call("GET", path, "peer", headers=header).json()
    assert full["metadata"]["holder"]["code"] == HOLDER["id_number"]
    assert full["face"] is None and full["grant_uses_left"] == 1
    # Another region's peer, and the Jiangsu window registered here, with the same grant.
    assert (
        regions.sc.call("GET", path, "peer-gd", headers=header).json()["reason"] == "wrong_audience"
    )
    window = regions.sc.call("GET", path, "320105-ZWFW", headers=header)
    assert window.status_code == 200 and window.json()["grant_uses_left"] == 0
    used_up = regions.sc.call("GET", path, "peer", headers=header)
    assert (used_up.status_code, used_up.json()["reason"]) == (403, "grant_used_up")
    uses = regions.sc.call("GET", f"{path}/uses", "510104-RS").json()
    assert [(u["subject"], u["scope"]) for u in uses] == [
        ("320000", "status"),
        ("320000", "metadata"),
        ("440000", "refused:wrong_audience"),
        ("320105-ZWFW", "metadata"),
        ("320000", "refused:grant_used_up"),
    ]
    assert uses[1]["grant_id"] == parse_grant(base64.b64decode(header["Tongban-Grant"])).grant_id
    assert regions.sc.call("GET", f"{path}/uses", "auditor").status_code == 200
    for token in ("peer", "320105-ZWFW", "510000-ZWFW"):
        assert regions.sc.call("GET", f"{path}/uses", token).status_code == 403


def test_grants_refused_expired_withdrawn_or_forged(regions: Regions) -> None:
    issued = regions.issue()
    path = f"/licenses/{issued.identifier}"
    wrong_holder = _grant(regions, issued.identifier, holder_code="510104199001011234")
    assert (wrong_holder.status_code, wrong_holder.json()["field"]) == (403, "holder_code")
    for change, field in (
        ({"scope": ["everything"]}, "scope"),
        ({"uses": 0}, "uses"),
        ({"audience_region": "32000"}, "audience_region"),
    ):
        answer = _grant(regions, issued.identifier, **change)
        assert answer.status_code == 422 and answer.json()["field"].endswith(field), answer.text
    # A complete, valid body: the refusal must come from who asks, not from a missing field.
    by_window = _grant(regions, issued.identifier, token="320105-ZWFW")
    assert by_window.status_code == 403, by_window.text
    grant = _grant(regions, issued.identifier).json()
    header = {"Tongban-Grant": grant["grant"]}
    forged = bytearray(base64.b64decode(grant["grant"]))
    forged[-1] ^= 1
    answer = regions.sc.call(
        "GET", path, "peer", headers={"Tongban-Grant": base64.b64encode(bytes(forged)).decode()}
    )
    assert (answer.status_code, answer.json()["reason"]) == (422, "bad_signature")
    assert (
        regions.sc.call("DELETE", f"{path}/grants/{grant['grant_id']}", "510104-RS").status_code
        == 204
    )
    answer = regions.sc.call("GET", path, "peer", headers=header)
    assert (answer.status_code, answer.json()["reason"]) == (403, "grant_withdrawn")
    later = _grant(regions, issued.identifier).json()
    regions.world.clock.advance(2 * 86_400)
    answer = regions.sc.call("GET", path, "peer", headers={"Tongban-Grant": later["grant"]})
    assert (answer.status_code, answer.json()["reason"]) == (403, "grant_expired")


def test_reading_licenses_refuses_bad_identifiers(regions: Regions) -> None:
    bad = regions.sc.call("GET", "/licenses/1.2.156.3005.2.X", "peer")
    assert (bad.status_code, bad.json()["field"]) == (422, "identifier")
    unknown = identifier_for(uuid.uuid4(), CARD, RS_USCC).text
    missing = regions.sc.call("GET", f"/licenses/{unknown}", "peer")
    assert (missing.status_code, missing.json()["reason"]) == (404, "unknown_license")
    assert regions.sc.call("GET", f"/licenses/{unknown}").status_code == 401


def test_documents_are_stored_encrypted_and_erasable(regions: Regions, tmp_path: Path) -> None:
    issued = regions.issue()
    sqlite_file = tmp_path / "sc" / "licenses.sqlite3"
    # Chosen by the variant, not by the file's presence: a moved file must fail, not skip.
    if not regions.sc.services.settings.database_url:  # SQLite: no holder data in clear on disk
        document = sqlite_file.read_bytes()
        assert HOLDER["id_number"].encode() not in document
    regions.sc.licenses.store.erase_documents(issued.identifier, now=datetime.now(UTC))
    erased = regions.sc.call("GET", f"/licenses/{issued.identifier}", "510104-RS")
    assert (erased.status_code, erased.json()["reason"]) == (404, "erased")
    status = regions.sc.call("GET", f"/licenses/{issued.identifier}", "peer")
    assert status.status_code == 200 and status.json()["status"] == "valid"
    assert verify_ledger(regions.world.app).ok  # every signature still verifies
    assert regions.verify(issued.compact)["valid"] is True


def test_racing_requests_for_one_status_entry_give_it_to_one_license(regions: Regions) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from adapters.license_store import StatusIndexTaken

    store = regions.sc.licenses.store

    def hold(n: int) -> str:
        identifier = identifier_for(uuid.uuid4(), CARD, RS_USCC).text
        try:
            store.hold_index("510000-1", 4242, identifier, "510104-RS")
        except StatusIndexTaken:
            return "taken"
        return identifier

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(hold, range(16)))
    winners = [outcome for outcome in outcomes if outcome != "taken"]
    assert len(winners) == 1
    assert store.index_of(winners[0]) == ("510000-1", 4242, "510104-RS")
    assert 4242 in store.taken_indexes("510000-1")


def test_license_events_cannot_bypass_the_service_through_the_case_routes(
    regions: Regions,
) -> None:
    case_id, identifier = regions.delivered_case()
    event, _ = _issuance(regions, regions.client("rs-001"), case_id, identifier)
    before = regions.world.app.store.max_index()
    for path in (f"/cases/{license_stream_id(identifier)}/events", "/cases"):
        answer = regions.sc.call(
            "POST",
            path,
            "510104-RS",
            content=event,
            headers={"Content-Type": "application/msgpack"},
        )
        assert answer.status_code == 422, answer.text
        assert (answer.json()["reason"], answer.json()["field"]) == ("illegal_step", "type")
    assert regions.world.app.store.max_index() == before


def test_reposting_an_issuance_is_idempotent(regions: Regions) -> None:
    case_id, identifier = regions.delivered_case()
    event, draft = _issuance(regions, regions.client("rs-001"), case_id, identifier)
    first = _post_issuance(regions, event, draft)
    assert first.status_code == 201, first.text
    again = _post_issuance(regions, event, draft)
    assert again.status_code == 200 and again.json()["index"] == first.json()["index"]
    assert again.json()["created"] is False
    issued = _tampered(draft, issuance_index=first.json()["index"])  # the old signature: refused
    answer = regions.sc.call(
        "PUT",
        f"/licenses/{identifier}/document",
        "510104-RS",
        json={"document": base64.b64encode(issued).decode()},
    )
    assert (answer.status_code, answer.json()["reason"]) == (422, "bad_signature")
    assert regions.sc.licenses.store.document(identifier, "issued") is None


def test_status_lists_are_signed_only_for_lists_in_use(regions: Regions) -> None:
    for list_id in ("510000-2", "510000-01", "510000-999999", "320000-1", "x"):
        answer = regions.sc.call("GET", f"/status-lists/{list_id}")
        assert (answer.status_code, answer.json()["reason"]) == (404, "unknown_status_list")
    assert regions.sc.licenses.store.latest_status_list("510000-999999") is None
    assert regions.sc.call("GET", "/status-lists/510000-1").status_code == 200
