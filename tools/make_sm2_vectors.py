"""Generate the ``sm2-sm3`` test vectors in ``tests/vectors/sm2/``.

    .venv/bin/python tools/make_sm2_vectors.py            # (re)write the vector files
    .venv/bin/python tools/make_sm2_vectors.py --check    # exit 1 if a file would change

Every signed object kind is built by the library exactly as the Ed25519 generators build it
(``make_vectors.py``, ``make_license_vectors.py``: the same contents, times and chains), with
every key an SM2 key of a fixed seed. SM2 signatures are randomized; here the nonce k comes
from a fixed stream (SM3 of the key's label and a counter) so the files are the same on every
run — a signer in use draws k from ``/dev/urandom``.

Each vector gives ``public_key`` (``04 || X || Y``), ``signing_input`` and ``signature`` in
hex, which is what ``openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt
distid:1234567812345678`` needs (``tests/unit/test_sm2_vectors.py`` runs it), and the full
object bytes. ``negative.json`` holds signatures that must not verify (``"valid": false``);
``wrong-for-other-reasons.json`` holds signatures that do verify mathematically but that a
node must refuse for another reason (revoked key, wrong context, wrong signer ID).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

import contextlib
import hashlib

from ledger import canonical, merkle
from ledger.envelope import open_signed
from ledger.notes import (
    COSIGNATURE_SM2,
    NOTE_SM2,
    Checkpoint,
    cosign,
    cosignature_message,
    signed_checkpoint,
)
from ledger.personal import commit
from ledger.sm2 import SM2_SIGNER_ID, SM2_SM3, N, Sm2Signer, sm3
from ledger.suites import Signer, get_suite, signing_input
from licenses.grant import GRANT_CONTEXT, build_grant
from licenses.status import STATUS_LIST_CONTEXT, LicenseStatus, StatusList, build_status_list
from licenses.trust import TRUST_LIST_CONTEXT, LicenseKeyEntry, Recognition, build_trust_list
from tools import make_license_vectors, make_vectors, vectorkit

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "sm2"


def _nonce_stream(label: str) -> Callable[[int], bytes]:
    counter = iter(range(1 << 30))

    def draw(size: int) -> bytes:
        out = b""
        while len(out) < size:
            out += sm3(f"tongban-sm2-vector-nonce/{label}/{next(counter)}".encode())
        return out[:size]

    return draw


def _signer(label: str, seed: bytes) -> Sm2Signer:
    return Sm2Signer.from_seed(seed, nonce_source=_nonce_stream(label))


def _signer_json(label: str, seed: bytes) -> dict[str, str]:
    signer = Sm2Signer.from_seed(seed)
    return {
        "label": label,
        "seed": seed.hex(),
        "private_key": signer.private_seed().hex(),
        "public_key": signer.public_key.hex(),
        "suite": SM2_SM3,
        "kid": signer.key_id,
    }


_PATCHED = ("SIGNERS", "ED25519_SHA256", "signer_json")


@contextlib.contextmanager
def _sm2_keys() -> Iterator[None]:
    """Point the Ed25519 generators at SM2 keys of their own seeds while generating, and back
    afterwards: the generators read these globals, and a test that runs this generator must
    not leave the others (run later in the same process) signing with SM2."""
    saved = [
        (module, name, getattr(module, name))
        for module in (make_vectors, make_license_vectors)
        for name in _PATCHED
    ]
    saved.append((make_license_vectors, "LICENSE_KEY", make_license_vectors.LICENSE_KEY))
    try:
        for module in (make_vectors, make_license_vectors):
            seeds: dict[str, bytes] = module.SEEDS
            signers = {label: _signer(label, seed) for label, seed in seeds.items()}
            setattr(module, "SIGNERS", signers)  # noqa: B010
            setattr(module, "ED25519_SHA256", SM2_SM3)  # noqa: B010
            setattr(module, "signer_json", lambda label, s=seeds: _signer_json(label, s[label]))  # noqa: B010
        setattr(make_license_vectors, "LICENSE_KEY", make_license_vectors.SIGNERS["license"])  # noqa: B010
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def _positive(kind: str, name: str, description: str, raw: bytes, signer: Signer) -> dict[str, Any]:
    signed = open_signed(raw, context=_CONTEXTS[kind])
    signed.verify(signer.public_key)
    return {
        "name": name,
        "valid": True,
        "kind": kind,
        "context": signed.context,
        "description": description,
        "suite": SM2_SM3,
        "signer_id": SM2_SIGNER_ID.decode(),
        "public_key": signer.public_key.hex(),
        "kid": signer.key_id,
        "content": signed.content_bytes.hex(),
        "signing_input": signing_input(signed.context, signed.suite, signed.content_bytes).hex(),
        "signature": signed.signature.hex(),
        "object": raw.hex(),
        "hash": get_suite(SM2_SM3).digest(raw).hex(),
    }


_CONTEXTS = {
    "event": "tongban/event/v1",
    "receipt": "tongban/receipt/v1",
    "key_record": "tongban/key/v1",
    "license": "tongban/license/v1",
    "grant": GRANT_CONTEXT,
    "trust_list": TRUST_LIST_CONTEXT,
    "status_list": STATUS_LIST_CONTEXT,
}


def _from_ed25519_generators() -> Iterator[tuple[dict[str, Any], Signer]]:
    registry = make_vectors.registry_vectors()
    events = make_vectors.event_vectors()[0]
    for vector in registry + events:
        signer = make_vectors.SIGNERS[vector["signer"]["label"]]
        raw = bytes.fromhex(vector["expected"]["envelope"])
        yield _positive(vector["kind"], vector["name"], vector["description"], raw, signer), signer
    license_key = make_license_vectors.LICENSE_KEY
    for name, build in (
        ("license-social-security-card", make_license_vectors.social_security_card),
        ("license-business-long-term", make_license_vectors.business_license),
    ):
        yield (
            _positive(
                "license",
                name,
                f"{name} of license.md, signed by an SM2 license key.",
                build(),
                license_key,
            ),
            license_key,
        )


START = make_vectors.START
SECOND = make_vectors.SECOND


def _license_objects() -> Iterator[tuple[dict[str, Any], Signer]]:
    node = _signer("node-330000", vectorkit.seed("tongban-sm2-vector-node-330000"))
    root = _signer("root-330000", vectorkit.seed("tongban-sm2-vector-root-330000"))
    license_key = Sm2Signer.from_seed(make_license_vectors.SEEDS["license"])
    grant = build_grant(
        node,
        grant_id="0123456789abcdef0123456789abcdef",
        license="1.2.156.3005.2.11100000TB0000010H001.11330105002500287C.2026010500000001.001.1",
        ledger="tongban/330000",
        audience_region="320000",
        audience_body="320102-RS",
        scope=["metadata", "face"],
        purpose="跨省通办 社会保障卡核验",
        issued_at=START,
        expires_at=START + 86_400 * SECOND,
        uses=1,
    )
    yield (
        _positive("grant", "grant", "A one-use grant signed by the node's SM2 key.", grant, node),
        node,
    )
    trust = build_trust_list(
        root,
        region="330000",
        version=1,
        issued_at=START,
        valid_until=START + 30 * 86_400 * SECOND,
        license_keys=[
            LicenseKeyEntry(
                kid=license_key.key_id,
                suite=SM2_SM3,
                public_key=license_key.public_key,
                body_id="330105-RS",
                issuer_code="11330105002500287C",
                valid_from=START,
                valid_until=None,
                revoked_since=None,
            )
        ],
        recognition=[
            Recognition(type="11100000TB0000010H001", regions=frozenset({"320000", "510000"}))
        ],
    )
    yield (
        _positive(
            "trust_list",
            "trust-list",
            "Region 330000's trust list signed by its SM2 root.",
            trust,
            root,
        ),
        root,
    )
    status = StatusList()
    status.set(7, LicenseStatus.REVOKED)
    status_raw = build_status_list(
        node,
        status,
        list_id="tongban/330000/status/1",
        issuer="330000",
        version=1,
        issued_at=START,
        valid_until=START + 86_400 * SECOND,
    )
    yield (
        _positive(
            "status_list",
            "status-list",
            "A status list (index 7 revoked) signed by the node's SM2 key.",
            status_raw,
            node,
        ),
        node,
    )


# -- negatives --------------------------------------------------------------------------------

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF


def _rs(r: int, s: int) -> str:
    return (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()


def _der(signature: bytes) -> bytes:
    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\x00") or b"\x00"
        if value[0] & 0x80:
            value = b"\x00" + value
        return b"\x02" + bytes([len(value)]) + value

    body = integer(signature[:32]) + integer(signature[32:])
    return b"\x30" + bytes([len(body)]) + body


def _negatives(good: Mapping[str, Any], other: Sm2Signer) -> list[dict[str, Any]]:
    """Each a (public key, signing input, signature) that must not verify, and why."""
    pk, message, sig = good["public_key"], good["signing_input"], bytes.fromhex(good["signature"])
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    flipped = bytearray(sig)
    flipped[63] ^= 1
    x = bytes.fromhex(pk)[1:33]
    cases: list[tuple[str, str, str, str, str]] = [
        ("flipped-signature-bit", pk, message, bytes(flipped).hex(), "the signature's last bit"),
        ("other-message", pk, message[:-2] + "00", sig.hex(), "the signing input's last byte"),
        ("other-key", other.public_key.hex(), message, sig.hex(), "another SM2 key"),
        ("r-zero", pk, message, _rs(0, s), "r = 0 (B1)"),
        ("s-zero", pk, message, _rs(r, 0), "s = 0 (B2)"),
        ("r-equals-n", pk, message, _rs(N, s), "r = n (B1)"),
        ("s-equals-n", pk, message, _rs(r, N), "s = n (B2)"),
        (
            "r-plus-n",
            pk,
            message,
            _rs(r + N, s) if r + N < 1 << 256 else _rs(N + 1, s),
            "r + n, the same r mod n (B1)",
        ),
        ("r-plus-s-is-n", pk, message, _rs(r, N - r), "(r + s) mod n = 0 (B3)"),
        (
            "der-encoded",
            pk,
            message,
            _der(sig).hex(),
            "the same r, s in DER: not the 64-byte encoding",
        ),
        ("short-signature", pk, message, sig[:63].hex(), "63 bytes"),
        ("long-signature", pk, message, (sig + b"\x00").hex(), "65 bytes"),
        ("key-infinity", "00", message, sig.hex(), "the point at infinity (encoded 00)"),
        ("key-zero-point", "04" + "00" * 64, message, sig.hex(), "(0, 0): not on the curve"),
        (
            "key-compressed",
            ("02" if int(pk[-2:], 16) % 2 == 0 else "03") + x.hex(),
            message,
            sig.hex(),
            "the compressed form of the right key",
        ),
        (
            "key-off-curve",
            pk[:-2] + format(int(pk[-2:], 16) ^ 1, "02x"),
            message,
            sig.hex(),
            "Y's last bit flipped: off the curve",
        ),
        (
            "key-x-plus-p",
            "04" + format(int.from_bytes(x, "big") + P, "064x")[-64:] + pk[66:]
            if int.from_bytes(x, "big") + P < 1 << 256
            else "04" + format(P, "064x") + pk[66:],
            message,
            sig.hex(),
            "a coordinate not below p",
        ),
        ("key-no-prefix", pk[2:], message, sig.hex(), "64 bytes X || Y without 04"),
    ]
    return [
        {
            "name": f"{good['name']}/{name}",
            "valid": False,
            "public_key": public_key,
            "signer_id": SM2_SIGNER_ID.decode(),
            "signing_input": signing_input_hex,
            "signature": signature,
            "why": why,
        }
        for name, public_key, signing_input_hex, signature, why in cases
    ]


def _wrong_for_other_reasons(event: Mapping[str, Any], officer: Sm2Signer) -> list[dict[str, Any]]:
    """Signatures that verify under the key and ID given, but that a node refuses."""
    content = bytes.fromhex(event["content"])
    as_receipt = signing_input("tongban/receipt/v1", get_suite(SM2_SM3), content)
    return [
        {
            "name": "wrong-context",
            "valid": False,
            "signature_verifies": True,
            "public_key": officer.public_key.hex(),
            "signer_id": SM2_SIGNER_ID.decode(),
            "signing_input": as_receipt.hex(),
            "signature": officer.sign(as_receipt).hex(),
            "reason": "wrong_context",
            "why": "event-seq2's content signed under ctx tongban/receipt/v1: the content says "
            "tongban/event/v1, so the object is refused whatever the signature",
        },
        {
            "name": "revoked-key",
            "valid": False,
            "signature_verifies": True,
            "public_key": event["public_key"],
            "signer_id": SM2_SIGNER_ID.decode(),
            "signing_input": event["signing_input"],
            "signature": event["signature"],
            "reason": "revoked_key",
            "revoked_since": START,
            "why": "event-seq2 as given, after a key_revoked record whose compromised_since "
            "is before the event's time: the signature verifies, the key may not sign",
        },
        {
            "name": "other-signer-id",
            "valid": False,
            "signature_verifies": True,
            "public_key": officer.public_key.hex(),
            "signer_id": "",
            "signing_input": event["signing_input"],
            "signature": _sign_with_id(officer, b"", bytes.fromhex(event["signing_input"])),
            "reason": "bad_signature",
            "why": "event-seq2's signing input signed with an empty distinguishing ID "
            "(OpenSSL 3's default): it verifies with distid empty, never with "
            "1234567812345678, which is the only ID this suite uses",
        },
    ]


def _sign_with_id(signer: Sm2Signer, uid: bytes, message: bytes) -> str:
    from gmalglib.sm2 import SM2

    return bytes(
        SM2(sk=signer.private_seed(), uid=uid, rnd_fn=_nonce_stream("other-id")).sign(message)
    ).hex()


def _note_vectors() -> list[dict[str, Any]]:
    """A checkpoint signed by an SM2 node key and cosigned by an SM2 witness (C2SP type 0xff)."""
    node = _signer("node-note", vectorkit.seed("tongban-sm2-vector-node-note"))
    witness = _signer("witness-note", vectorkit.seed("tongban-sm2-vector-witness-note"))
    checkpoint = Checkpoint("tongban/510000", 5, hashlib.sha256(b"tree of five").digest())
    note = signed_checkpoint(checkpoint, "tongban/510000", node)
    timestamp = 1_767_225_600
    cosignature = cosign(checkpoint.text, "tongban/330000/witness", witness, timestamp)
    cosigned = note.with_signatures([cosignature])
    common = {"valid": True, "suite": SM2_SM3, "signer_id": SM2_SIGNER_ID.decode()}
    return [
        {
            "name": "checkpoint-note",
            "kind": "checkpoint_note",
            **common,
            "description": "A checkpoint signed by an SM2 node key: key ID = SHA-256(name || "
            "0x0A || signature_type || public key)[:4], signature_type = 0xff || long "
            "identifier; the signature is SM2 over the note text (the signing input).",
            "key_name": "tongban/510000",
            "signature_type": NOTE_SM2.hex(),
            "key_id": note.signatures[0].key_id.hex(),
            "public_key": node.public_key.hex(),
            "signing_input": checkpoint.text.encode().hex(),
            "signature": note.signatures[0].signature.hex(),
            "note": cosigned.render(),
        },
        {
            "name": "checkpoint-cosignature",
            "kind": "cosignature",
            **common,
            "description": "An SM2 witness's timestamped cosignature of checkpoint-note: the "
            "signature line carries key ID || u64 timestamp || signature, over "
            "cosignature/v1\\ntime <t>\\n followed by the checkpoint text.",
            "key_name": "tongban/330000/witness",
            "signature_type": COSIGNATURE_SM2.hex(),
            "key_id": cosignature.key_id.hex(),
            "timestamp": timestamp,
            "public_key": witness.public_key.hex(),
            "signing_input": cosignature_message(checkpoint.text, timestamp).hex(),
            "signature": cosignature.signature[8:].hex(),
        },
    ]


def _hashes(event: Mapping[str, Any]) -> dict[str, Any]:
    """Every hash a guomi node computes of one SM2 event, and which algorithm it uses."""
    raw = bytes.fromhex(event["object"])
    body = canonical.decode(bytes.fromhex(event["content"]))["body"]
    object_hash = get_suite(SM2_SM3).digest(raw)
    secret = make_vectors.COMMITMENT_SECRET
    return {
        "description": "The hashes of event-seq1 (sm2-sm3), docs/envelope.md §3.2 and "
        "docs/transparency.md: the object hash is SM3 of the exact object bytes; the Merkle "
        "leaf input is that hash and the leaf hash SHA-256(0x00 || it) (RFC 9162); "
        "commitments are HMAC-SHA256(secret, field || 0x00 || value); materials[].sha256 "
        "is SHA-256 of the file.",
        "object": event["object"],
        "object_hash_sm3": object_hash.hex(),
        "merkle_leaf_input": object_hash.hex(),
        "merkle_leaf_hash_sha256": merkle.leaf_hash(object_hash).hex(),
        "commitment_secret": secret.hex(),
        "commitments_hmac_sha256": {
            field: {"value": value, "commitment": commit(secret, field, value).hex()}
            for field, value in (("name", "张三"), ("id_number", "11010519491231002X"))
        },
        "material": {"file": "form", "sha256": hashlib.sha256(b"form").hexdigest()},
        "body_commitments": {k: v.hex() for k, v in body["applicant"]["commitments"].items()},
        "body_materials": [
            {"name": m["name"], "sha256": m["sha256"].hex()} for m in body["materials"]
        ],
    }


def vectors() -> dict[str, dict[str, Any]]:
    with _sm2_keys():
        return _vectors()


def _vectors() -> dict[str, dict[str, Any]]:
    positives = list(_from_ed25519_generators()) + list(_license_objects())
    files: dict[str, dict[str, Any]] = {f"{v['name']}.json": v for v, _ in positives}
    other = _signer("other", vectorkit.seed("tongban-sm2-vector-other"))
    negatives: list[dict[str, Any]] = []
    for vector, _ in positives:
        negatives += _negatives(vector, other)
    files["negative.json"] = {
        "description": "Signatures that must not verify under sm2-sm3 (docs/envelope.md "
        "§3.2): for every positive vector, the same signing input with one defect each.",
        "vectors": negatives,
    }
    event = files["event-seq2.json"]
    officer = make_vectors.SIGNERS["officer"]
    assert isinstance(officer, Sm2Signer)
    files["wrong-for-other-reasons.json"] = {
        "description": "Mathematically valid SM2 signatures under the key and ID given, "
        "that a node refuses for the reason given.",
        "vectors": _wrong_for_other_reasons(event, officer),
    }
    files["external.json"] = EXTERNAL
    files["hashes.json"] = _hashes(files["event-seq1.json"])
    for note_vector in _note_vectors():
        files[f"{note_vector['name']}.json"] = note_vector
        negatives += _negatives(note_vector, other)
    return files


# Published by others, copied here so a verifier can run them offline.
EXTERNAL: dict[str, Any] = {
    "description": "SM2 vectors published elsewhere: OpenSSL's evppkey_sm2.txt (the two SM3 "
    "Verify cases: e is the digest SM3(Z_A || M), the signature DER as published) and the "
    "example of GB/T 32918.2-2016 Annex A.2 on its example curve (ID ALICE123@YAHOO.COM).",
    "openssl_evppkey_sm2": [
        {
            "key": "SM2_key1",
            "public_key": "04393a2ad9e27e43acaaab85a19d3b85591e14406157175addd37bf77ff0caf9ed"
            "37fcf3a8b4f55c038523261fca6636afe6a7afa2a1482a606f5cb3a18b2e2a1e",
            "digest": "d7ad397f6ffa5d4f7f11e7217f241607dc30618c236d2c09c1b9ea8fdadee2e8",
            "signature_der": "3046022100ab1db64de7c40edbde6651c9b8ebdb804673db836e5d5c7fe15dcf9e"
            "d2725037022100eba714451ff69b0bb930b379e192e7cd5fa6e3c41c7fbd8303b799ab54a54621",
        },
        {
            "key": "SM2_key1",
            "public_key": "04393a2ad9e27e43acaaab85a19d3b85591e14406157175addd37bf77ff0caf9ed"
            "37fcf3a8b4f55c038523261fca6636afe6a7afa2a1482a606f5cb3a18b2e2a1e",
            "digest": "b1139602c6ecc9e15e2f3f9c635a1afe737058bc15387479c1ea0d0b3d90e9e5",
            "signature_der": "3045022100e6e0414ebd3a656c35602af14ab20287dbf30d57af75c49a188ed4b4"
            "2391f22402202f54f277c606f4605e1ce9514947ffddf94c67a539804a4ed17f852288bdbe2e",
        },
    ],
    "gbt32918_annex_a2": {
        "curve": {
            "p": "8542d69e4c044f18e8b92435bf6ff7de457283915c45517d722edb8b08f1dfc3",
            "a": "787968b4fa32c3fd2417842e73bbfeff2f3c848b6831d7e0ec65228b3937e498",
            "b": "63e4c6d3b23b0c849cf84241484bfe48f61d59a5b16ba06e6e12d1da27c5249a",
            "gx": "421debd61b62eab6746434ebc3cc315e32220b3badd50bdc4c4e6c147fedd43d",
            "gy": "0680512bcbb42c07d47349d2153b70c4e5d7fdfcbfa36ea1a85841b9e46e09a2",
            "n": "8542d69e4c044f18e8b92435bf6ff7dd297720630485628d5ae74ee7c32e79b7",
        },
        "signer_id": "ALICE123@YAHOO.COM",
        "private_key": "128b2fa8bd433c6c068c8d803dff79792a519a55171b1b650c23661d15897263",
        "public_key": "040ae4c7798aa0f119471bee11825be46202bb79e2a5844495e97c04ff4df2548a"
        "7c0240f88f1cd4e16352a73c17b7f16f07353e53a176d684a9fe0c6bb798e857",
        "message": "message digest",
        "z_a": "f4a38489e32b45b6f876e3ac2168ca392362dc8f23459c1d1146fc3dbfb7bc9a",
        "e": "b524f552cd82b8b028476e005c377fb19a87e6fc682d48bb5d42e3d9b9effe76",
        "signature": "40f1ec59f793d9f49e09dcef49130d4194f79fb1eed2caa55bacdb49c4e755d1"
        "6fc6dac32c5d5cf10c77dfb20f7c2eb667a457872fb09ec56327a67ec7deebe7",
    },
}


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(argv, description=__doc__ or "", out=OUT, vectors=vectors)


if __name__ == "__main__":
    sys.exit(main())
