"""An officer whose key is SM2 on the test node of :mod:`tests.support.api_node`: a 国密 key
file as ``tongban keys generate --suite sm2-sm3`` writes it, certified by the Ed25519 key of
``510104-RS`` (the node accepts both suites, ``docs/keys.md`` §8). The pages cannot use the
key (WebCrypto has no SM2): the officer signs with ``tongban login sign`` and
``tongban case sign-draft`` (``docs/pages.md``, 国密 officers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adapters.keyfiles import write_key
from ledger.admin import RegistryClerk
from ledger.sm2 import SM2_SM3
from ledger.suites import SoftwareSigner
from tests.support.api_node import ApiNode
from tests.support.world import seeded_in

SM2_BODY = "510104-RS"


@dataclass(frozen=True)
class Sm2Officer:
    body_id: str
    officer_id: str
    signer: SoftwareSigner
    key_file: Path


def certify_sm2_officer(node: ApiNode, directory: Path, officer_id: str = "rs-sm2") -> Sm2Officer:
    """``officer_id`` of ``510104-RS`` with a new SM2 key, its key file in ``directory``."""
    signer = seeded_in(SM2_SM3, f"officer/{SM2_BODY}/{officer_id}")
    key_file = directory / f"{officer_id}.key"
    if not key_file.exists():
        write_key(key_file, signer)
    RegistryClerk(node.services.ledger, node.world.region).certify_officer(
        node.world.body_keys[SM2_BODY], SM2_BODY, officer_id, signer.public_key
    )
    return Sm2Officer(SM2_BODY, officer_id, signer, key_file)
