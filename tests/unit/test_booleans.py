"""A boolean is never an integer, in every signed object (docs/envelope.md §1.1).

``True == 1`` in Python and msgpack decodes ``c3`` as ``True``: without a type check every
integer field would have a second spelling that a strict verifier in another language refuses.
Each object here is a valid one re-signed with one integer field set to ``true``; the vectors
(``neg-version-true``, ``neg-seq-true``, license ``neg-*-true``, compact ``*-true``) cover
events, license documents and the compact form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger import canonical
from ledger.envelope import KEY_RECORD_CONTEXT, RECEIPT_CONTEXT, ZERO_HASH, seal
from ledger.errors import LedgerError
from ledger.keys import parse_key_record
from ledger.receipts import parse_receipt
from ledger.suites import ED25519_SHA256, get_suite, signing_input
from licenses.errors import LicenseError
from licenses.grant import build_grant, parse_grant
from licenses.identifiers import make_identifier
from licenses.status import StatusList, build_status_list, parse_status_list
from licenses.trust import build_trust_list, parse_trust_list
from tests.support.world import seeded

SIGNER = seeded("booleans/signer")
NOW = 1_767_225_600_000_000
DAY = 86_400 * 1_000_000


def _resigned(raw: bytes, **changes: Any) -> bytes:
    content_bytes, _ = canonical.decode(raw)
    content = {**canonical.decode(content_bytes), **changes}
    content_bytes = canonical.encode(content)
    message = signing_input(content["ctx"], get_suite(content["suite"]), content_bytes)
    return canonical.encode([content_bytes, SIGNER.sign(message)])


def _status_list() -> bytes:
    return build_status_list(
        SIGNER,
        StatusList(),
        list_id="510000-1",
        issuer="tongban/510000",
        version=1,
        issued_at=NOW,
        valid_until=NOW + DAY,
    )


def _trust_list() -> bytes:
    return build_trust_list(
        SIGNER,
        region="510000",
        version=1,
        issued_at=NOW,
        valid_until=NOW + DAY,
        license_keys=[],
        recognition=[],
    )


def _grant() -> bytes:
    return build_grant(
        SIGNER,
        grant_id="0" * 32,
        license=make_identifier("11100000TB0000010H001", "11510104MB0000123N", "ABC").text,
        ledger="tongban/510000",
        audience_region="320000",
        audience_body="",
        scope=["metadata"],
        purpose="核验",
        issued_at=NOW,
        expires_at=NOW + DAY,
        uses=1,
    )


def _key_record() -> bytes:
    body = {"public_key": SIGNER.public_key, "key_suite": ED25519_SHA256, "valid_from": NOW}
    content = {"ctx": KEY_RECORD_CONTEXT, "region": "510000", "seq": 1, "prev": ZERO_HASH}
    return seal({**content, "type": "root_established", "time": NOW, "body": body}, SIGNER)


def _receipt() -> bytes:
    content = {"ctx": RECEIPT_CONTEXT, "ledger": "tongban/510000", "index": 1}
    content |= {"event": bytes(32), "stream": "0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81"}
    return seal({**content, "seq": 1, "time": NOW}, SIGNER)


CASES: list[tuple[str, Callable[[], bytes], Callable[[bytes], object], str]] = [
    ("status list", _status_list, parse_status_list, "version"),
    ("trust list", _trust_list, parse_trust_list, "version"),
    ("grant", _grant, parse_grant, "uses"),
    ("key record", _key_record, parse_key_record, "seq"),
    ("receipt", _receipt, parse_receipt, "index"),
]


@pytest.mark.parametrize(("kind", "make", "parse", "field"), CASES, ids=[c[0] for c in CASES])
def test_true_is_not_one(
    kind: str, make: Callable[[], bytes], parse: Callable[[bytes], object], field: str
) -> None:
    raw = make()
    parse(raw)  # the object as made is valid
    for name in ("v", field):
        with pytest.raises((LedgerError, LicenseError)) as refused:
            parse(_resigned(raw, **{name: True}))
        assert getattr(refused.value, "field", None) == name, (kind, name)
