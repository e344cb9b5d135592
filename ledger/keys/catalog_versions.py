"""The catalog versions a ledger knows: the packaged ones and the signed amendments since."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.catalog import Catalog, load_catalog


class CatalogVersions:
    """The catalog versions a ledger knows: the packaged ones and signed amendments."""

    def __init__(self, catalogs: Iterable[Catalog] = ()):
        self.versions: dict[str, Catalog] = {}
        # Per region, (since, version) in order: which version new cases must pin when.
        self.history: dict[str, list[tuple[int, str]]] = {}
        for catalog in catalogs:
            self.add(catalog, since=0)

    def add(self, catalog: Catalog, *, since: int) -> None:
        self.versions[catalog.version] = catalog
        self.history.setdefault(catalog.region, []).append((since, catalog.version))

    def current_at(self, region: str, moment: int) -> str | None:
        """The version new cases of ``region`` pin at ``moment`` (a receipt time)."""
        current = None
        for since, version in self.history.get(region, []):
            if since <= moment:
                current = version
        return current

    def get(self, version: str) -> Catalog | None:
        return self.versions.get(version)

    def current(self, region: str, moment: int) -> Catalog:
        """The catalog new cases of ``region`` pin at ``moment``: the latest signed amendment,
        else the packaged one (``UnknownRegion`` when none ships for ``region``)."""
        version = self.current_at(region, moment)
        catalog = self.versions.get(version) if version is not None else None
        return catalog if catalog is not None else load_catalog(region)

    def amend(self, base_version: str, region: str, changes: list[Any]) -> Catalog:
        base = self.versions.get(base_version)
        if base is None or base.region != region:
            raise ValueError(f"no catalog version {base_version} of region {region}")
        return base.amended(changes)
