"""The key registry: region root → bodies → officers, append-only and signed.

Each region keeps one registry stream of key records (``tongban/key/v1`` signed objects,
``docs/keys.md``). The records of a stream are chained by ``prev`` and numbered by ``seq`` like
case events, and each is signed by the key entitled to make it.

- :mod:`~ledger.keys.records`: the record types, their fields, parsing and signing;
- :mod:`~ledger.keys.key_info`: what the registry knows of a key, and when it may sign;
- :mod:`~ledger.keys.organizations`: a body's organization data (division, level, sector, roles);
- :mod:`~ledger.keys.catalog_versions`: the catalog versions cases may pin;
- :mod:`~ledger.keys.effects`: what each record type changes, one function per type;
- :mod:`~ledger.keys.registry`: :class:`KeyRegistry`, which applies records in order, and the
  registry's stream id and the ledger's home region.

Validity is always judged at a *receipt time* (the node's clock when it accepted the object),
never at the signer's claimed time: a key is valid at ``t`` when ``valid_from <= t``, no later
key replaced it before ``t`` and it was not compromised at or before ``t``.
"""

from ledger.keys.catalog_versions import CatalogVersions
from ledger.keys.effects import Effects, Resolution
from ledger.keys.key_info import (
    BODY,
    LICENSE,
    NODE,
    OFFICER,
    ROOT,
    KeyInfo,
    KeyNotValidAtTime,
    KeyRevoked,
    UncertifiedOfficer,
    UnknownKey,
)
from ledger.keys.organizations import LEVELS, ROLES, BodyInfo, BodyView, check_org
from ledger.keys.records import (
    BODY_FIELDS,
    LICENSE_KEY_FIELDS,
    RECORD_FIELDS,
    RECORD_TYPES,
    KeyRecord,
    build_key_record,
    parse_key_record,
    rotation_proof_input,
    sign_rotation_proof,
)
from ledger.keys.registry import (
    NODE_OFFICER,
    TONGBAN_NAMESPACE,
    KeyRegistry,
    RegionRegistry,
    ledger_home_region,
    registry_stream_id,
)

__all__ = [
    "BODY",
    "BODY_FIELDS",
    "LEVELS",
    "LICENSE",
    "LICENSE_KEY_FIELDS",
    "NODE",
    "NODE_OFFICER",
    "OFFICER",
    "RECORD_FIELDS",
    "RECORD_TYPES",
    "ROLES",
    "ROOT",
    "TONGBAN_NAMESPACE",
    "BodyInfo",
    "BodyView",
    "CatalogVersions",
    "Effects",
    "KeyInfo",
    "KeyNotValidAtTime",
    "KeyRecord",
    "KeyRegistry",
    "KeyRevoked",
    "RegionRegistry",
    "Resolution",
    "UncertifiedOfficer",
    "UnknownKey",
    "build_key_record",
    "check_org",
    "ledger_home_region",
    "parse_key_record",
    "registry_stream_id",
    "rotation_proof_input",
    "sign_rotation_proof",
]
