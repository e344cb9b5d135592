"""The personal-data vault as the license service's ``licenses.ports.HolderSecrets``."""

from __future__ import annotations

from adapters.vault import PersonalDataVault, VaultError
from licenses.errors import HolderSecretUnavailable

__all__ = ["VaultHolderSecrets"]


class VaultHolderSecrets:
    """Case applicants' commitment secrets from the vault; a vault refusal (unknown, erased,
    undecryptable, database down) becomes ``HolderSecretUnavailable`` naming its class."""

    def __init__(self, vault: PersonalDataVault) -> None:
        self.vault = vault

    def commitment_secret(self, ref: str) -> bytes:
        try:
            return self.vault.commitment_secret(ref)
        except VaultError as error:
            raise HolderSecretUnavailable(type(error).__name__) from None
