"""No endpoint, export, bundle, log or spec shows an applicant to anyone not on the case; after
erasure nobody can read the person anywhere, and the audit stays clean.

The applicant has distinctive values (``APPLICANT``); every answer, CLI output, bundle file,
log record and vault row is searched for each of them in clear: as UTF-8 bytes, inside JSON
(whatever its escaping) and inside every base64 string an answer carries (envelopes, receipts).
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.cli import main
from api.license_client import IssuedLicense, identifier_for
from ledger.audit import verify_ledger
from licenses.document import parse_license
from tests.reliability.test_authorization import EXPECTED, REQUESTS, Fixture
from tests.support import licenses
from tests.support.api_node import APPLICANT, PRINCIPALS, ApiNode, configured_api_node

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"
# Principals not on the case the requests read (``home`` and ``window`` are on it).
NOT_ON_THE_CASE = [p for p in PRINCIPALS if p not in ("home", "window")]


def secrets_in(blob: bytes | str) -> list[str]:
    """The applicant's values found in clear in ``blob``."""
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    found = [value for value in APPLICANT.values() if value in text]
    if APPLICANT["id_number"].lower() in text:
        found.append(APPLICANT["id_number"].lower())
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def readable(content: bytes) -> bytes:
    """``content`` plus what a reader gets from it: JSON unescaped, base64 strings decoded."""
    parts = [content]
    try:
        document = json.loads(content)
    except ValueError:
        return content
    parts.append(json.dumps(document, ensure_ascii=False).encode())
    for text in _strings(document):
        if len(text) >= 8 and re.fullmatch(r"[A-Za-z0-9+/=]+", text):
            with contextlib.suppress(binascii.Error, ValueError):
                parts.append(base64.b64decode(text, validate=True))
    return b"\n".join(parts)


def assert_no_secrets(what: str, content: bytes | str) -> None:
    blob = readable(content.encode() if isinstance(content, str) else content)
    assert not secrets_in(blob), f"{what} shows {secrets_in(blob)} in clear"


@dataclass
class Node:
    api: ApiNode
    case_id: uuid.UUID
    ref: str
    env: dict[str, str]
    license: IssuedLicense  # the applicant's 社会保障卡 (issued for another case of theirs)

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
        code = main([*args, "--data-dir", str(self.api.data_dir)])
        out, err = capsys.readouterr()
        return code, out + err


def _ref_of(api: ApiNode, case_id: uuid.UUID) -> str:
    raw = api.services.ledger.envelope_at(case_id, 1)
    assert raw is not None
    from ledger.envelope import parse_event

    ref: str = parse_event(raw).body["applicant"]["ref"]
    return ref


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def node(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Node]:
    for api in configured_api_node(request.param, request, tmp_path, monkeypatch):
        case_id = api.proxy_case(APPLICANT)
        env = {
            name: os.environ[name] for name in ("TONGBAN_DATABASE_URL", "TONGBAN_DATABASE_SCHEMA")
        }
        licenses.enable_licenses(api)
        issued = licenses.issue(api, APPLICANT)
        yield Node(api, case_id, _ref_of(api, case_id), env, issued)


LICENSE_ROUTE = re.compile(r" /(licenses|trust-list|status-lists)\b")
# Rows that need a grant made for the license (none can be made once its documents are erased).
GRANT_ROWS = {row for row in EXPECTED if "#grant" in row or "/grants" in row}


def _every_answer(
    node: Node, principals: list[str], rows: list[str] | None = None
) -> Iterator[tuple[str, httpx.Response]]:
    """Every row of the authorization matrix, as each of ``principals``, about this case and
    the applicant's license."""
    api = node.api
    job = api.post("/audit/verify", "auditor", content_type=None).json()["job_id"]
    size = int(api.post("/audit/checkpoint", "admin", content_type=None).text.splitlines()[1])
    fixture = Fixture(api, node.case_id, job, size, node.license)
    for row in EXPECTED if rows is None else rows:
        for principal in principals:
            yield f"{row} as {principal}", REQUESTS[row](fixture, principal)()


def shown_by_right(what: str) -> bool:
    """The license read by its issuer (``home``), or with the holder's grant by a principal
    of its audience: the holder in clear is the answer (docs/license.md §12.5)."""
    row, _, principal = what.rpartition(" as ")
    if not row.startswith("GET /licenses/{identifier}") or row.endswith("/uses"):
        return False
    return principal == "home" or (row.endswith("#grant") and EXPECTED[row][principal] == 200)


def test_no_endpoint_shows_the_applicant_to_a_principal_not_on_the_case(node: Node) -> None:
    answers, granted = 0, []
    for what, response in _every_answer(node, NOT_ON_THE_CASE):
        answers += 1
        if shown_by_right(what):
            assert secrets_in(readable(response.content)), f"{what}: the grant opened nothing"
            granted.append(what)
            continue
        assert_no_secrets(what, response.content)
    assert answers == len(EXPECTED) * len(NOT_ON_THE_CASE)
    assert granted == [
        "GET /licenses/{identifier}#grant as away",
        "GET /licenses/{identifier}#grant as peer",
    ]


def test_bodies_on_the_case_see_the_applicant_only_when_they_ask_and_say_why(
    node: Node,
) -> None:
    api = node.api
    for what, response in _every_answer(node, ["home", "window"]):
        if "personal=true" not in what and not shown_by_right(what):
            assert_no_secrets(what, response.content)
    for principal in ("home", "window"):
        shown = api.get(f"/cases/{node.case_id}", principal, personal="true", purpose="核对身份")
        assert shown.json()["applicant"] == {"ref": node.ref, **APPLICANT}
    log = api.get(f"/cases/{node.case_id}/access", "auditor").json()
    assert [(a["subject"], a["purpose"]) for a in log][-2:] == [
        ("510104-RS", "核对身份"),
        ("320105-ZWFW", "核对身份"),
    ]


def test_a_purpose_carrying_personal_data_is_refused(node: Node) -> None:
    """Found by this test: the purpose is free text shown to auditors and the administrator
    in the access log; it took an ID number or a phone number in clear."""
    api = node.api
    for purpose in (f"核对{APPLICANT['id_number']}", f"回电{APPLICANT['phone']}"):
        before = api.stored()
        refused = api.get(f"/cases/{node.case_id}", "home", personal="true", purpose=purpose)
        assert refused.status_code == 422, refused.text
        assert (refused.json()["reason"], refused.json()["field"]) == ("malformed", "purpose")
        assert_no_secrets("the refusal", refused.content)
        assert api.stored() == before, "nothing shown, so nothing logged"
    log = api.get(f"/cases/{node.case_id}/access", "auditor")
    assert_no_secrets("the access log", log.content)


def test_cli_reports_and_bundles_carry_no_personal_data(
    node: Node, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case = str(node.case_id)
    bundle = tmp_path / "case.json"
    for args in (
        ("case", "show", case),
        ("case", "show", case, "--json"),
        ("case", "list"),
        ("report", "bodies"),
        ("report", "bodies", "--json"),
        ("audit", "verify", "--json"),
        ("audit", "bundle", "--case", case, "--out", str(bundle)),
        ("token", "list"),
    ):
        code, out = node.cli(capsys, *args)
        assert code == 0, (args, out)
        assert_no_secrets(" ".join(args), out)
    assert case in bundle.read_text()
    assert_no_secrets("the bundle", bundle.read_bytes())


def test_logs_carry_no_personal_data(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = node.api
    api.get(f"/cases/{node.case_id}", "home", personal="true", purpose="核对身份")
    api.client.post("/applicants", json={**APPLICANT, "phone": "1"}, headers=api.headers("home"))
    api.stored_applicant("home")
    list(_every_answer(node, list(PRINCIPALS)))
    assert caplog.records, "nothing was logged: the scan would prove nothing"
    for record in caplog.records:
        assert_no_secrets(f"log record {record.name}", record.getMessage())
        if record.exc_text:
            assert_no_secrets(f"log traceback {record.name}", record.exc_text)


def test_the_openapi_document_carries_no_personal_data() -> None:
    text = OPENAPI.read_text()
    assert_no_secrets("openapi.json", text)
    # No realistic ID or mobile number as an example either (a valid check digit or 1[3-9]…).
    from ledger.personal import find_personal_data

    assert find_personal_data(text) is None


def _vault_rows(node: Node) -> dict[str, list[tuple[Any, ...]]]:
    api = node.api
    if node.env["TONGBAN_DATABASE_URL"]:
        schema = node.env["TONGBAN_DATABASE_SCHEMA"]
        with psycopg.connect(node.env["TONGBAN_DATABASE_URL"]) as conn:
            return {
                table: conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                for table in ("applicant_data", "applicant_keys", "applicant_erasures")
            }
    with sqlite3.connect(api.data_dir / "vault.sqlite3") as conn:
        return {
            table: conn.execute(f'SELECT * FROM "{table}"').fetchall()
            for table in ("applicant_data", "applicant_keys", "applicant_erasures")
        }


def _mentions(rows: list[tuple[Any, ...]], ref: str) -> bool:
    return any(ref in row for row in rows)


def test_after_erasure_the_applicant_is_unreadable_everywhere_and_the_audit_is_clean(
    node: Node, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api, ref = node.api, node.ref
    key_rows = [row for row in _vault_rows(node)["applicant_keys"] if ref in row]
    assert key_rows
    wrapped = [bytes(v) for v in key_rows[0] if isinstance(v, bytes | memoryview) and len(v) >= 32]
    assert wrapped, "the wrapped keys to look for after erasure"
    code, out = node.cli(capsys, "applicant", "erase", ref, "--reason", "申请人要求删除")
    assert code == 0, out
    assert_no_secrets("the erase command", out)
    # The person's licenses are records of their own (the holder may still present them):
    # erasing the person erases each of their licenses' documents too.
    code, out = node.cli(capsys, "license", "erase", node.license.identifier)
    assert code == 0, out

    # The API: a body on the case asking in clear learns only that the person was erased.
    for principal in ("home", "window"):
        shown = api.get(f"/cases/{node.case_id}", principal, personal="true", purpose="核对身份")
        assert shown.status_code == 200, shown.text
        assert shown.json()["applicant"] == {"ref": ref, "erased": "true"}
    rows = [row for row in EXPECTED if row not in GRANT_ROWS]
    for what, response in _every_answer(node, list(PRINCIPALS), rows):
        assert_no_secrets(what, response.content)

    # The vault: the keys are gone, a tombstone is there; no row holds a value in clear.
    vault = _vault_rows(node)
    assert not _mentions(vault["applicant_keys"], ref)
    assert _mentions(vault["applicant_erasures"], ref) and _mentions(vault["applicant_data"], ref)
    for table, table_rows in vault.items():
        assert_no_secrets(f"vault table {table}", repr(table_rows).encode())
    if not node.env["TONGBAN_DATABASE_URL"]:
        # SQLite: secure_delete and a WAL checkpoint leave not even the wrapped keys on disk
        # (PostgreSQL keeps dead tuples until VACUUM: docs/threat-model.md §7).
        files = sorted(api.data_dir.glob("vault.sqlite3*"))
        assert files, "no vault file to search: the check would pass unread"
        for file in files:
            content = file.read_bytes()
            assert_no_secrets(file.name, content)
            assert not any(key in content for key in wrapped), f"{file.name} keeps a wrapped key"
    from adapters.vault import ApplicantErased

    with pytest.raises(ApplicantErased):
        api.services.vault.read(ref)
    with pytest.raises(ApplicantErased):
        api.services.vault.commitment_secret(ref)

    # The CLI and the bundle, and the audit: every chain still verifies.
    bundle = tmp_path / "case.json"
    for args in (
        ("case", "show", str(node.case_id), "--json"),
        ("audit", "bundle", "--case", str(node.case_id), "--out", str(bundle)),
        ("audit", "verify", "--json"),
    ):
        code, out = node.cli(capsys, *args)
        assert code == 0, (args, out)
        assert_no_secrets(" ".join(args), out)
    assert json.loads(out)["ok"] is True
    assert_no_secrets("the bundle", bundle.read_bytes())
    # No witness here: the bundle's chains are what this test checks, so none is asked for.
    code, out = node.cli(capsys, "audit", "verify-bundle", str(bundle), "--min-witnesses", "0")
    assert code == 0, out
    assert verify_ledger(api.services.ledger).ok


# -- licenses: the holder's name and ID number are in the documents only ---------------------


def _license_answers(node: Node) -> Iterator[tuple[str, httpx.Response]]:
    """Every answer about the applicant's license that no grant opened: status reads by every
    principal but its issuer, refused grants, the use log, status and trust lists, verdicts."""
    api, issued = node.api, node.license
    path = f"/licenses/{issued.identifier}"
    for principal in PRINCIPALS:
        if principal != "home":
            yield f"status as {principal}", api.get(path, principal, purpose="核验")

    def with_grant(principal: str, grant: str) -> httpx.Response:
        headers = {**api.headers(principal), "Tongban-Grant": grant}
        answer: httpx.Response = api.client.get(path, headers=headers)
        return answer

    used = licenses.grant(api, issued.identifier)["grant"]
    assert with_grant("peer", used).status_code == 200
    yield "a used-up grant", with_grant("peer", used)
    for principal in ("outsider", "auditor", "admin"):
        fresh = licenses.grant(api, issued.identifier)["grant"]
        yield f"a grant for Jiangsu as {principal}", with_grant(principal, fresh)
    withdrawn = licenses.grant(api, issued.identifier)
    api.client.delete(f"{path}/grants/{withdrawn['grant_id']}", headers=api.headers("home"))
    yield "a withdrawn grant", with_grant("peer", withdrawn["grant"])
    forged = bytearray(base64.b64decode(licenses.grant(api, issued.identifier)["grant"]))
    forged[-1] ^= 1
    yield "a forged grant", with_grant("peer", base64.b64encode(bytes(forged)).decode())
    for principal in ("home", "auditor", "admin"):
        yield f"the use log as {principal}", api.get(f"{path}/uses", principal)
    list_id = parse_license(issued.document).status.list
    yield "the status list", api.get(f"/status-lists/{list_id}")
    yield "the trust list", api.get("/trust-list")
    document = base64.b64encode(issued.document).decode()
    for body in (
        {"license": issued.compact},
        {"document": document},
        {"document": document, "holder_code": licenses.HOLDER_ID},
        {"document": document, "holder_code": "510104199001011234"},
    ):
        yield f"verify {sorted(body)}", api.client.post("/licenses/verify", json=body)


def test_a_license_shows_its_holder_only_to_its_issuer_and_with_a_valid_grant(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api, issued = node.api, node.license
    # The scan finds the holder where they are meant to be: the issuer's read, a grant's.
    mine = api.get(f"/licenses/{issued.identifier}", "home")
    assert {APPLICANT["name"], APPLICANT["id_number"]} <= set(secrets_in(readable(mine.content)))
    answers = list(_license_answers(node))
    assert len(answers) == 25  # a status read per principal but home, 15 others
    for what, response in answers:
        assert response.status_code < 500, (what, response.text)
        assert_no_secrets(what, response.content)
    assert caplog.records, "nothing was logged: the scan would prove nothing"
    for record in caplog.records:
        assert_no_secrets(f"log record {record.name}", record.getMessage())
    uses = api.get(f"/licenses/{issued.identifier}/uses", "auditor").json()
    assert {"refused:wrong_audience", "refused:grant_used_up"} <= {u["scope"] for u in uses}


def test_a_purpose_carrying_personal_data_is_refused_for_licenses(node: Node) -> None:
    """Found by this test: the purpose of a license read (kept in the use log, shown to the
    issuer, auditors and the administrator) and of a grant (signed into it, given to another
    region) took an ID number or a phone number in clear."""
    api, identifier = node.api, node.license.identifier
    for purpose in (f"核对{APPLICANT['id_number']}", f"回电{APPLICANT['phone']}"):
        before = api.stored()
        read = api.get(f"/licenses/{identifier}", "peer", purpose=purpose)
        grant = licenses.post_grant(api, identifier, purpose=purpose)
        for refused in (read, grant):
            assert refused.status_code == 422, refused.text
            assert (refused.json()["reason"], refused.json()["field"]) == ("malformed", "purpose")
            assert_no_secrets("the refusal", refused.content)
        assert api.stored() == before, "nothing read or granted, so nothing logged or kept"


def _license_key_rows(node: Node) -> list[tuple[Any, ...]]:
    identifier = node.license.identifier
    query = "SELECT * FROM {}tongban_license_doc_keys"
    if node.env["TONGBAN_DATABASE_URL"]:
        schema = node.env["TONGBAN_DATABASE_SCHEMA"]
        with psycopg.connect(node.env["TONGBAN_DATABASE_URL"]) as conn:
            rows = conn.execute(query.format(f'"{schema}".')).fetchall()
    else:
        with sqlite3.connect(node.api.data_dir / "licenses.sqlite3") as conn:
            rows = conn.execute(query.format("")).fetchall()
    return [row for row in rows if identifier in row]


def test_after_a_license_is_erased_its_holder_is_unreadable_and_the_audit_is_clean(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    api, issued = node.api, node.license
    path = f"/licenses/{issued.identifier}"
    (key_row,) = _license_key_rows(node)
    wrapped = bytes(key_row[1])
    grant = licenses.grant(api, issued.identifier, uses=5)["grant"]
    unknown = identifier_for(uuid.uuid4(), licenses.CARD, licenses.RS_USCC).text
    code, out = node.cli(capsys, "license", "erase", unknown)
    assert code == 1 and "unknown_license" in out, out
    code, out = node.cli(capsys, "license", "erase", issued.identifier)
    assert code == 0, out
    assert_no_secrets("the erase command", out)

    # Its issuer and a grant's audience learn only that it was erased; the status still reads.
    for principal, headers in (("home", {}), ("peer", {"Tongban-Grant": grant})):
        answer = api.client.get(path, headers={**api.headers(principal), **headers})
        assert (answer.status_code, answer.json()["reason"]) == (404, "erased"), answer.text
    refused = licenses.post_grant(api, issued.identifier)
    assert (refused.status_code, refused.json()["reason"]) == (404, "erased")
    assert api.get(path, "peer").json()["status"] == "valid"
    for what, response in _license_answers_after_erasure(node):
        assert_no_secrets(what, response.content)
    rows = [r for r in EXPECTED if r not in GRANT_ROWS and LICENSE_ROUTE.search(r)]
    assert len(rows) == 15  # with the license pages' draft routes (api/routes/license_drafts.py)
    for what, response in _every_answer(node, list(PRINCIPALS), rows):
        assert_no_secrets(what, response.content)

    # The store: the key is gone (wrapped NULL, erased_at set); on SQLite not even the
    # wrapped key's bytes remain in the file (PostgreSQL: dead tuples until VACUUM, §7).
    (key_row,) = _license_key_rows(node)
    assert key_row[1] is None and key_row[2] is not None
    if not node.env["TONGBAN_DATABASE_URL"]:
        files = sorted(api.data_dir.glob("licenses.sqlite3*"))
        assert files, "no license store file to search: the check would pass unread"
        for file in files:
            content = file.read_bytes()
            assert_no_secrets(file.name, content)
            assert wrapped not in content, f"{file.name} keeps the wrapped document key"
    code, out = node.cli(capsys, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True, out
    assert verify_ledger(api.services.ledger).ok
    # The holder's own compact form still verifies: the issuance is signed, not erased.
    verdict = api.client.post("/licenses/verify", json={"license": issued.compact}).json()
    assert verdict["valid"] is True, verdict


def _license_answers_after_erasure(node: Node) -> Iterator[tuple[str, httpx.Response]]:
    api, path = node.api, f"/licenses/{node.license.identifier}"
    for principal in PRINCIPALS:
        yield f"read as {principal}", api.get(path, principal, purpose="核验")
    for principal in ("home", "auditor", "admin"):
        yield f"the use log as {principal}", api.get(f"{path}/uses", principal)
