"""The license forgery corpus (``test_license_forgery.py``) on SM2: every key of the corpus
(roots, license key, node, the untrusted signer) is an ``sm2-sm3`` key, every signed object
SM2 over SM3, and every forgery is refused with the same reason as under Ed25519."""

from __future__ import annotations

from tests.support.suite_variants import load_with_suite

_corpus = load_with_suite(
    "sm2-sm3",
    "tests.reliability.test_license_forgery",
    dependencies=["tests.unit.test_license_verify"],
)
assert _corpus.LICENSE_KEY.suite == "sm2-sm3"

globals().update({name: value for name, value in vars(_corpus).items() if name.startswith("test_")})


def test_the_corpus_is_signed_with_sm2() -> None:
    from ledger import canonical

    content = canonical.decode(canonical.decode(_corpus.DOCUMENT)[0])
    assert content["suite"] == "sm2-sm3"
    assert content["kid"] == _corpus.LICENSE_KEY.key_id
