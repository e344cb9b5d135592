"""ledger/keys/effects.py: every record type has its effect, so none falls through unchecked."""

from __future__ import annotations

from ledger.keys import RECORD_TYPES
from ledger.keys.effects import EFFECTS


def test_every_record_type_but_the_first_has_one_effect() -> None:
    # ``root_established`` is checked by the registry itself: its signer is the key it
    # establishes, so there is no known signer to hand an effect function.
    assert set(EFFECTS) == RECORD_TYPES - {"root_established"}
