"""Generate the rating test vectors in ``tests/vectors/ratings/`` (docs/envelope.md §5.5).

    .venv/bin/python tools/make_rating_vectors.py            # (re)write the vector files
    .venv/bin/python tools/make_rating_vectors.py --check    # exit 1 if a file would change

A ``received`` step carrying the commitment to a fixed rating code, a rating the node signs
with the code's proof, a rating an officer records at the window, and ratings a node must
refuse, each with one defect. Keys come from the envelope vectors' fixed seeds (the ``node``
key is the one ``key-node-key-certified`` certifies), so every byte is the same on every run.
The vectors check the envelope and the rating rules of §5.5; for brevity each rating links to
the ``received`` step (a real case has the steps up to delivery in between).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from ledger.envelope import ZERO_HASH, build_event
from ledger.keys import NODE_OFFICER
from ledger.ratings.code import code_commitment, code_proof, normalize_code
from ledger.suites import ED25519_SHA256, get_suite
from tools import make_vectors as envelope_vectors
from tools import vectorkit

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "ratings"
CASE_ID = envelope_vectors.CASE_ID
LEDGER = envelope_vectors.LEDGER
BODY_ID = envelope_vectors.BODY_ID
OFFICER_ID = envelope_vectors.OFFICER_ID
CODE = "7K3M-9QXW-2RTB-H4ZD"  # as printed on the receipt slip; vectors only
RECEIVED_TIME = envelope_vectors.START + 2 * 3600 * envelope_vectors.SECOND
RATED_TIME = RECEIVED_TIME + 10 * 86_400 * envelope_vectors.SECOND


def _received() -> bytes:
    return build_event(
        envelope_vectors.SIGNERS["officer"],
        ledger=LEDGER,
        case_id=CASE_ID,
        seq=1,
        event_type="received",
        time=RECEIVED_TIME,
        body_id=BODY_ID,
        officer_id=OFFICER_ID,
        prev=ZERO_HASH,
        body={
            "item": "510000/1/5",
            "channel": "online",
            "coordination": "single",
            "catalog_version": hashlib.sha256(b"tongban-vector-catalog").hexdigest(),
            "applicant": {
                "ref": envelope_vectors.APPLICANT_REF,
                "commitments": {
                    "name": bytes.fromhex("11" * 32),
                    "id_number": bytes.fromhex("22" * 32),
                },
            },
            "materials": [{"name": "申请表", "sha256": hashlib.sha256(b"form").digest()}],
            "home_body": BODY_ID,
            "jurisdiction": "510104",
            "rating_code": code_commitment(CASE_ID, CODE),
        },
    )


def _rated(signer: str, officer_id: str, prev: bytes, body: dict[str, Any]) -> bytes:
    return build_event(
        envelope_vectors.SIGNERS[signer],
        ledger=LEDGER,
        case_id=CASE_ID,
        seq=2,
        event_type="rated",
        time=RATED_TIME,
        body_id=BODY_ID,
        officer_id=officer_id,
        prev=prev,
        body=body,
    )


def all_vectors() -> dict[str, dict[str, Any]]:
    received = _received()
    prev = get_suite(ED25519_SHA256).digest(received)
    proof = code_proof(CASE_ID, CODE)
    code_inputs = {
        "code": CODE,
        "normalized": normalize_code(CODE),
        "proof": proof.hex(),
        "commitment": code_commitment(CASE_ID, CODE).hex(),
    }
    node_body = {
        "level": "dissatisfied",
        "channel": "code",
        "comment": "等候时间长",
        "code_proof": proof,
    }
    vectors = [
        envelope_vectors.positive(
            "rating-received",
            "event",
            "A received step whose body.rating_code is SHA-256(proof) of the slip's code "
            "(rating_code in the vector gives the code, its normal form, proof and commitment).",
            "officer",
            received,
            rating_code=code_inputs,
        ),
        envelope_vectors.positive(
            "rating-node-signed",
            "event",
            "A 差评 made with the slip's code: signed by the node key, actor.officer 'node', "
            "actor.body the home body; body.code_proof opens rating-received's rating_code.",
            "node",
            _rated("node", NODE_OFFICER, prev, node_body),
            rating_code=code_inputs,
        ),
        envelope_vectors.positive(
            "rating-officer-signed",
            "event",
            "A rating recorded at the window and signed by the officer who recorded it; no "
            "code proof.",
            "officer",
            _rated("officer", OFFICER_ID, prev, {"level": "very_satisfied", "channel": "window"}),
        ),
    ]
    wrong = {**node_body, "code_proof": code_proof(CASE_ID, "AAAA-AAAA-AAAA-AAAA")}
    negatives = [
        (
            "neg-rating-wrong-code",
            "A node-signed rating whose code_proof is that of another code.",
            _rated("node", NODE_OFFICER, prev, wrong),
            "bad_rating_code",
            "body.code_proof",
        ),
        (
            "neg-rating-node-window-channel",
            "The node signs a window rating: only online and code ratings are node-signed.",
            _rated("node", NODE_OFFICER, prev, {"level": "satisfied", "channel": "window"}),
            "not_entitled",
            "actor.officer",
        ),
        (
            "neg-rating-officer-code-channel",
            "An officer signs a code rating: those are the node's, bound to the code.",
            _rated("officer", OFFICER_ID, prev, node_body),
            "not_entitled",
            "actor.officer",
        ),
        (
            "neg-rating-phone-in-comment",
            "A rating whose comment carries a mobile number in clear.",
            _rated(
                "officer",
                OFFICER_ID,
                prev,
                {"level": "satisfied", "channel": "window", "comment": "回电13812345678"},
            ),
            "malformed",
            "body.comment",
        ),
    ]
    vectors += [
        {
            "name": name,
            "valid": False,
            "kind": "event",
            "description": description,
            "envelope": raw.hex(),
            "reason": reason,
            "field": field,
            "refused_by": "workflow",
            "state": {
                "case_state": "delivered",
                "rating_state": "unrated",
                "home_body": BODY_ID,
                "rating_code": code_inputs["commitment"],
            },
        }
        for name, description, raw, reason, field in negatives
    ]
    return {f"{vector['name']}.json": vector for vector in vectors}


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(argv, description=__doc__.splitlines()[0], out=OUT, vectors=all_vectors)


if __name__ == "__main__":
    sys.exit(main())
