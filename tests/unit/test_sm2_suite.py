"""The sm2-sm3 suite (ledger/sm2.py): strict key and signature checks, the signer ID, the
module port, SM2 note signatures, key files, the vault's SM4-GCM rows and the crypto profile."""

from __future__ import annotations

import os
from pathlib import Path

import gmssl_pyx
import pytest
from gmalglib.sm2 import SM2

from adapters.crypto_profile import apply_crypto_profile, crypto_profile
from adapters.keyfiles import KeyFileError, read_key, write_encrypted_key, write_key
from adapters.settings import Settings
from adapters.vault_ciphers import AES_256_GCM, SM4_GCM
from adapters.vault_sqlite import SQLiteVault
from ledger.errors import LedgerError
from ledger.notes import (
    COSIGNATURE_SM2,
    NOTE_SM2,
    Checkpoint,
    Witness,
    cosign,
    key_id,
    parse_note,
    signed_checkpoint,
    verified_cosigners,
    verify_note,
)
from ledger.personal import PersonalData
from ledger.sm2 import (
    SM2_SIGNER_ID,
    N,
    P,
    Sm2ModuleSigner,
    Sm2Signer,
    Sm2Sm3,
    check_public_key,
    message_digest,
    sm3,
)
from ledger.suites import (
    Ed25519Signer,
    enable_suites,
    get_suite,
    suite_of_public_key,
)
from ledger.suites import (
    key_id as suite_key_id,
)
from tests.support.sm2_reference import SM2_CURVE
from tests.support.sm2_reference import verify as reference_verify

SIGNER = Sm2Signer.from_seed(bytes(range(32)))
MESSAGE = b"tongban/event/v1\x00" + bytes(32)


def _refused(public_key: bytes, message: bytes, signature: bytes) -> str:
    with pytest.raises(LedgerError) as refused:
        Sm2Sm3().verify(public_key, message, signature)
    return refused.value.reason


def test_sm3_matches_the_standard_example_and_hashlib() -> None:
    # GB/T 32905 Annex A.1: SM3("abc").
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3(b"abc").hex() == expected
    assert get_suite("sm2-sm3").digest(b"abc").hex() == expected


def test_signatures_verify_under_the_explicit_id_only() -> None:
    signature = SIGNER.sign(MESSAGE)
    assert len(signature) == 64
    Sm2Sm3().verify(SIGNER.public_key, MESSAGE, signature)
    assert reference_verify(SM2_CURVE, SM2_SIGNER_ID, SIGNER.public_key, MESSAGE, signature)
    assert not reference_verify(SM2_CURVE, b"", SIGNER.public_key, MESSAGE, signature)
    # GmSSL, an independent implementation, agrees (it takes X || Y and DER).
    r, s = signature[:32], signature[32:]
    der_body = b"".join(
        b"\x02" + bytes([len(v)]) + v
        for v in (b"\x00" * (x[0] >> 7) + x for x in (r.lstrip(b"\x00"), s.lstrip(b"\x00")))
    )
    der = b"\x30" + bytes([len(der_body)]) + der_body
    assert gmssl_pyx.sm2_verify(SIGNER.public_key[1:], MESSAGE, der, signer_id=SM2_SIGNER_ID)
    # And GmSSL's signatures verify here.
    theirs = gmssl_pyx.sm2_sign(
        SIGNER.private_seed(), SIGNER.public_key[1:], MESSAGE, SM2_SIGNER_ID
    )
    r_len = theirs[3]
    r_int = int.from_bytes(theirs[4 : 4 + r_len], "big")
    s_int = int.from_bytes(theirs[6 + r_len :], "big")
    Sm2Sm3().verify(
        SIGNER.public_key, MESSAGE, r_int.to_bytes(32, "big") + s_int.to_bytes(32, "big")
    )


def test_nonces_are_fresh() -> None:
    assert SIGNER.sign(MESSAGE) != SIGNER.sign(MESSAGE)


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 1), (1, 0), (N, 1), (1, N), (2**256 - 1, 1), (5, N - 5)],
    ids=["r=0", "s=0", "r=n", "s=n", "r=max", "r+s=n"],
)
def test_out_of_range_r_s_refused(r: int, s: int) -> None:
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert _refused(SIGNER.public_key, MESSAGE, signature) == "bad_signature"


def test_r_plus_s_equal_n_is_refused_even_where_the_library_is_asked_directly() -> None:
    # A pair with (r + s) mod n = 0 never verifies (t = 0); the check says why first.
    signature = (7).to_bytes(32, "big") + (N - 7).to_bytes(32, "big")
    with pytest.raises(LedgerError, match=r"\(r \+ s\) mod n is 0"):
        Sm2Sm3().verify(SIGNER.public_key, MESSAGE, signature)


def test_non_canonical_signature_encodings_refused() -> None:
    signature = SIGNER.sign(MESSAGE)
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    for other in (
        signature + b"\x00",
        b"\x00" + signature,
        signature[:63],
        (r + N).to_bytes(33, "big")[-32:] + signature[32:] if r + N < 2**256 else signature[:1],
    ):
        assert _refused(SIGNER.public_key, MESSAGE, other) == "bad_signature"
    assert s < N


@pytest.mark.parametrize(
    "public_key",
    [
        b"\x00",  # the point at infinity
        b"\x04" + bytes(64),  # (0, 0): off the curve
        b"\x04" + P.to_bytes(32, "big") + bytes(32),  # x = p
        SIGNER.public_key[:-1] + bytes([SIGNER.public_key[-1] ^ 1]),  # off the curve
        b"\x02" + SIGNER.public_key[1:33],  # compressed
        SIGNER.public_key[1:],  # no 04
        b"\x06" + SIGNER.public_key[1:],  # hybrid form
    ],
    ids=["infinity", "zero", "x=p", "off-curve", "compressed", "no-prefix", "hybrid"],
)
def test_bad_public_keys_refused(public_key: bytes) -> None:
    assert _refused(public_key, MESSAGE, SIGNER.sign(MESSAGE)) == "bad_signature"
    with pytest.raises(LedgerError):
        check_public_key(public_key)


def test_coordinates_at_or_above_p_refused_before_the_curve_check() -> None:
    y = SIGNER.public_key[33:]
    for x in (P, P + 1, 2**256 - 1):
        with pytest.raises(LedgerError, match="not below p"):
            check_public_key(b"\x04" + x.to_bytes(32, "big") + y)
    with pytest.raises(LedgerError, match="not below p"):
        check_public_key(SIGNER.public_key[:33] + P.to_bytes(32, "big"))


def test_key_id_and_suite_of_a_public_key() -> None:
    assert SIGNER.key_id == suite_key_id("sm2-sm3", SIGNER.public_key)
    assert SIGNER.key_id == sm3(b"sm2-sm3\x00" + SIGNER.public_key)[:16].hex()
    assert suite_of_public_key(SIGNER.public_key) == "sm2-sm3"
    assert suite_of_public_key(Ed25519Signer.generate().public_key) == "ed25519-sha256"
    with pytest.raises(LedgerError):
        suite_of_public_key(bytes(33))


class SoftwareModule:
    """What a GM/T 0018 SDF or GM/T 0016 SKF module does: sign e, return (r, s)."""

    def __init__(self, signer: Sm2Signer) -> None:
        self.public_key = signer.public_key
        self._sm2 = SM2(sk=signer.private_seed(), uid=SM2_SIGNER_ID)
        self.digests: list[bytes] = []

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        self.digests.append(digest)
        signature = bytes(self._sm2.sign_digest(digest))
        return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def test_a_module_behind_the_port_signs_what_the_suite_verifies() -> None:
    module = SoftwareModule(SIGNER)
    signer = Sm2ModuleSigner(module)
    assert signer.key_id == SIGNER.key_id and signer.suite == "sm2-sm3"
    signature = signer.sign(MESSAGE)
    Sm2Sm3().verify(SIGNER.public_key, MESSAGE, signature)
    # The module saw e = SM3(Z_A || M), never the message.
    assert module.digests == [message_digest(SIGNER.public_key, MESSAGE)]


def test_sm2_checkpoint_notes_and_cosignatures() -> None:
    checkpoint = Checkpoint("tongban/510000", 5, bytes(32))
    note = signed_checkpoint(checkpoint, "tongban/510000", SIGNER)
    assert note.signatures[0].key_id == key_id("tongban/510000", NOTE_SM2, SIGNER.public_key)
    assert NOTE_SM2[0] == 0xFF and len(NOTE_SM2) > 1
    verify_note(parse_note(note.render()), "tongban/510000", SIGNER.public_key)
    with pytest.raises(LedgerError):
        verify_note(note, "tongban/510000", Sm2Signer.generate().public_key)
    # A guomi witness cosigns with SM2 beside an Ed25519 witness; each counts under its key.
    sm2_witness, ed_witness = Sm2Signer.generate(), Ed25519Signer.generate()
    cosigned = note.with_signatures(
        [
            cosign(note.text, "witness/320000", ed_witness, 1_767_225_600),
            cosign(note.text, "witness/330000", sm2_witness, 1_767_225_601),
        ]
    )
    cosigned = parse_note(cosigned.render())
    assert cosigned.signatures[2].key_id == key_id(
        "witness/330000", COSIGNATURE_SM2, sm2_witness.public_key
    )
    witnesses = [
        Witness("witness/320000", ed_witness.public_key),
        Witness("witness/330000", sm2_witness.public_key),
    ]
    assert verified_cosigners(cosigned, witnesses) == [
        ("witness/320000", 1_767_225_600),
        ("witness/330000", 1_767_225_601),
    ]


def test_sm2_key_files(tmp_path: Path) -> None:
    write_key(tmp_path / "plain.key", SIGNER)
    assert (tmp_path / "plain.key").read_text().startswith("sm2-sm3 ")
    assert read_key(tmp_path / "plain.key").public_key == SIGNER.public_key
    write_encrypted_key(tmp_path / "sealed.key", SIGNER, "correct horse")
    assert SIGNER.private_seed().hex() not in (tmp_path / "sealed.key").read_text()
    assert read_key(tmp_path / "sealed.key", "correct horse").public_key == SIGNER.public_key
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        read_key(tmp_path / "sealed.key", "wrong")
    (tmp_path / "bad.key").write_text("sm2-sm3 " + "ff" * 32 + "\n")
    os.chmod(tmp_path / "bad.key", 0o600)
    with pytest.raises(KeyFileError, match="SM2"):
        read_key(tmp_path / "bad.key")


def test_vault_writes_sm4_rows_and_reads_both(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    master = bytes(range(32))
    data = PersonalData(name="张三", id_number="11010519491231002X")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    aes = SQLiteVault(tmp_path / "v.sqlite3", master_key=master, cipher=AES_256_GCM)
    old = aes.store(data, now=now)
    sm4 = SQLiteVault(tmp_path / "v.sqlite3", master_key=master, cipher=SM4_GCM)
    new = sm4.store(data, now=now)
    for vault in (aes, sm4):
        assert vault.read(old.ref) == data and vault.read(new.ref) == data
    assert sm4.commitment_secret(new.ref) != sm4.commitment_secret(old.ref)


def test_crypto_profiles() -> None:
    guomi = crypto_profile(Settings(crypto_profile="guomi"))
    assert (guomi.key_suite, guomi.vault_cipher) == ("sm2-sm3", SM4_GCM)
    assert guomi.accepted_suites == {"sm2-sm3", "ed25519-sha256"}
    international = crypto_profile(Settings())
    assert (international.key_suite, international.vault_cipher) == ("ed25519-sha256", AES_256_GCM)
    try:
        apply_crypto_profile(Settings(crypto_profile="guomi", accept_foreign_suites=False))
        with pytest.raises(LedgerError) as refused:
            get_suite("ed25519-sha256")
        assert refused.value.reason == "unsupported_suite"
        assert get_suite("sm2-sm3").name == "sm2-sm3"
    finally:
        enable_suites({"ed25519-sha256", "sm2-sm3"})
    assert get_suite("ed25519-sha256").name == "ed25519-sha256"
