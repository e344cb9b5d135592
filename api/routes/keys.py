"""``/keys`` and ``/bodies``: the signed key and organization registries, with history."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response

from api.deps import ENVELOPE_BODY, Caller, Envelope, Services, require
from api.errors import ApiProblem
from api.schemas import (
    REPOSTED,
    AppendedPublic,
    BodyPublic,
    KeyPublic,
    KeysPublic,
    RecordPublic,
    problem_responses,
)
from ledger.keys import parse_key_record, registry_stream_id

router = APIRouter(tags=["keys"], responses=problem_responses(401, 403, 404, 409, 413, 415, 422))


@router.get(
    "/keys",
    response_model=KeysPublic,
    summary="every key and every signed registry record, in ledger order",
)
def keys(node: Services) -> KeysPublic:
    # Public keys and signed records are meant to be public: anyone can verify from the roots.
    ledger = node.ledger
    ledger.refresh_registry()
    records = []
    for region in sorted(ledger.trusted_roots):
        for entry in ledger.stream_entries(registry_stream_id(region)):
            record = parse_key_record(entry.envelope)
            records.append(
                RecordPublic(
                    index=entry.index,
                    region=region,
                    seq=entry.seq,
                    type=record.type,
                    record=base64.b64encode(entry.envelope).decode(),
                    receipt=base64.b64encode(entry.receipt).decode(),
                )
            )
    records.sort(key=lambda r: r.index)
    return KeysPublic(
        keys=[
            KeyPublic(
                kid=k.kid,
                role=k.role,
                region=k.region,
                owner=k.owner,
                officer_id=k.officer_id,
                suite=k.suite,
                public_key=k.public_key.hex(),
                valid_from=k.valid_from,
                valid_until=k.valid_until,
                compromised_since=k.compromised_since,
            )
            for k in ledger.registry.keys.values()
        ],
        records=records,
    )


@router.post(
    "/keys/records",
    response_model=AppendedPublic,
    status_code=201,
    summary="append a signed key record (administrator or a peer region relaying)",
    responses=REPOSTED,
    openapi_extra=ENVELOPE_BODY,
)
def append_record(
    node: Services, caller: Caller, raw: Envelope, response: Response
) -> AppendedPublic:
    require(caller, "admin", "peer")
    record = parse_key_record(raw)
    if caller.kind == "peer" and record.region != caller.subject:
        raise ApiProblem(
            403,
            f"peer {caller.subject} relays only its own region's records",
            reason="forbidden",
            field="region",
        )
    appended = node.ledger.append_key_record(raw)
    response.status_code = 201 if appended.created else 200
    return AppendedPublic.of(appended)


@router.get("/bodies", response_model=list[BodyPublic], summary="registered bodies")
def bodies(node: Services) -> list[BodyPublic]:
    node.ledger.refresh_registry()
    return [
        BodyPublic(
            body_id=b.body_id, name=b.name, region=b.region, org=b.org, current_kid=b.current_kid
        )
        for b in sorted(node.ledger.registry.bodies.values(), key=lambda b: b.body_id)
    ]


@router.get("/bodies/{body_id}", response_model=BodyPublic, summary="one registered body")
def body(body_id: str, node: Services) -> BodyPublic:
    node.ledger.refresh_registry()
    found = node.ledger.registry.bodies.get(body_id)
    if found is None:
        raise ApiProblem(404, f"no body {body_id!r} in the registry", reason="not_found")
    return BodyPublic(
        body_id=found.body_id,
        name=found.name,
        region=found.region,
        org=found.org,
        current_kid=found.current_kid,
    )
