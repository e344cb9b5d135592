"""The service catalog: the 140 跨省通办 items of each province, as committed package data.

The data files (``ledger/catalog_data/<region>.json``) are generated from the source documents by
``tools/convert_catalog.py``; ``docs/catalog.md`` describes every field, every classification rule
and the version. This module only loads, checks and filters them: no HTTP, no SQL.

Errors::

    CatalogError (LookupError)
    ├── UnknownRegion      no catalog for that region code
    ├── UnknownItem        the region has no item with that batch and seq
    ├── MalformedItemKey   an item key that is not ``region/batch/seq``
    └── CorruptCatalog     a data file does not match its own version or shape
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Literal, get_args

from ledger.catalog_limits import LegTimeLimit, parse_time_limits

__all__ = [
    "BATCHES",
    "CHANNELS",
    "COORDINATIONS",
    "MODE_SOURCES",
    "REGION_NAMES",
    "STATUSES",
    "TWIN_MATCHES",
    "Catalog",
    "CatalogError",
    "CatalogItem",
    "Channel",
    "Coordination",
    "CorruptCatalog",
    "MalformedItemKey",
    "ModeSource",
    "Status",
    "UnknownItem",
    "UnknownRegion",
    "catalog_version",
    "find_item",
    "item_key_of",
    "load_catalog",
    "load_catalogs",
    "regions",
    "sector_of_unit",
]

Channel = Literal["direct", "online", "proxy"]
Coordination = Literal["joint", "single"]
Status = Literal["active", "national_system", "pending", "verify"]
ModeSource = Literal["admin", "scenario", "seed_text", "twin"]
TwinMatch = Literal["", "name", "slot"]

CHANNELS: tuple[Channel, ...] = get_args(Channel)
COORDINATIONS: tuple[Coordination, ...] = get_args(Coordination)
STATUSES: tuple[Status, ...] = get_args(Status)
MODE_SOURCES: tuple[ModeSource, ...] = get_args(ModeSource)
TWIN_MATCHES: tuple[TwinMatch, ...] = get_args(TwinMatch)

# 1 = by end of 2020, 2 = by end of 2021, 3 = after 2021.
BATCHES: tuple[int, ...] = (1, 2, 3)

# The regions whose catalog ships with the package (GB/T 2260 codes).
REGION_NAMES: Mapping[str, str] = {"320000": "江苏省", "510000": "四川省"}

# What a signed catalog amendment may change (``tongban catalog amend``).
AMENDABLE_FIELDS: tuple[str, ...] = (
    "channels",
    "coordination",
    "status",
    "lead_unit",
    "cooperating_units",
    "item_code",
    "basis",
    "item_type",
    "time_limit",
    "time_limits",
    "fee",
    "issuing_mode",
    "conditions",
    "filing_methods",
    "acceptance_mode",
    "review_procedure",
)
# 办事指南 fields written into an item's data only when set, so the packaged catalogs (which
# have none) keep their versions: 申请条件, 申报方式, 受理模式, 审核程序.
GUIDE_FIELDS: tuple[str, ...] = (
    "conditions",
    "filing_methods",
    "acceptance_mode",
    "review_procedure",
)
# Fields whose value is text (an amendment giving a number or a list is refused, not stored).
_TEXT_FIELDS: tuple[str, ...] = (
    "national_name",
    "lead_unit",
    "scenario",
    "handling_text",
    "deadline_text",
    "item_code",
    "basis",
    "item_type",
    "time_limit",
    "fee",
    "issuing_mode",
    *GUIDE_FIELDS,
)

_DATA_PACKAGE = "ledger"
_DATA_DIR = "catalog_data"


class CatalogError(LookupError):
    """Base of every error the catalog raises."""


class UnknownRegion(CatalogError):
    """No catalog ships for this region code."""

    def __init__(self, region: str) -> None:
        known = ", ".join(sorted(REGION_NAMES))
        super().__init__(f"no service catalog for region {region!r} (known regions: {known})")
        self.region = region


class UnknownItem(CatalogError):
    """The region's catalog has no item at this batch and seq."""

    def __init__(self, region: str, batch: int, seq: int) -> None:
        super().__init__(f"region {region} has no catalog item in batch {batch} with seq {seq}")
        self.region = region
        self.batch = batch
        self.seq = seq


class MalformedItemKey(CatalogError):
    """An item key is not ``region/batch/seq`` with positive decimal numbers."""

    def __init__(self, item_key: str) -> None:
        super().__init__(f"item key {item_key!r} is not region/batch/seq (e.g. '510000/1/8')")
        self.item_key = item_key


class CorruptCatalog(CatalogError):
    """A catalog data file is malformed or does not match its recorded version."""


# Bodies whose names do not follow "<province>省<sector>厅/局/委", and the official long/short
# spellings of one department; everything else is the name minus prefix and suffix.
_SECTOR_OF_SPECIAL_UNIT: Mapping[str, str] = {
    "人行成都分行": "人民银行",
    "人民银行南京分行": "人民银行",
    "民航西南地区管理局": "民航",
    "民航江苏安全监管局": "民航",
    "国家濒管办成都办事处": "濒危物种进出口管理",
    "南京海关": "海关",
    "省法院": "法院",
    "省高级人民法院": "法院",
    "省人力资源和社会保障厅": "人力资源社会保障",
    "省住房和城乡建设厅": "住房城乡建设",
}
_PROVINCE_PREFIXES = ("四川省", "江苏省", "省")
_DEPARTMENT_SUFFIXES = ("厅", "局", "委")


def sector_of_unit(unit: str) -> str:
    """The sector a unit belongs to: the name without province prefix and 厅/局/委 suffix.

    >>> sector_of_unit("省市场监管局")
    '市场监管'
    >>> sector_of_unit("人力资源社会保障厅")
    '人力资源社会保障'
    """
    if unit in _SECTOR_OF_SPECIAL_UNIT:
        return _SECTOR_OF_SPECIAL_UNIT[unit]
    name = unit
    for prefix in _PROVINCE_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if name.endswith(_DEPARTMENT_SUFFIXES) and len(name) > 1:
        name = name[:-1]
    return name


def item_key_of(region: str, batch: int, seq: int) -> str:
    """The stable reference of an item, ``region/batch/seq`` (e.g. ``510000/1/8``)."""
    return f"{region}/{batch}/{seq}"


@dataclass(frozen=True)
class CatalogItem:
    """One 跨省通办 item as one province lists it; ``docs/catalog.md`` defines every field."""

    region: str
    batch: int
    seq: int
    national_name: str
    local_names: tuple[str, ...]
    lead_unit: str
    cooperating_units: tuple[str, ...]
    scenario: str
    handling_text: str
    deadline_text: str
    channels: tuple[Channel, ...]
    coordination: Coordination
    status: Status
    mode_source: ModeSource
    twin_item_key: str = ""
    twin_match: TwinMatch = ""
    # 四级四同 and service-guide fields; the seeds are silent, an administrator fills them later.
    item_code: str = ""
    basis: str = ""
    item_type: str = ""
    time_limit: str = ""  # free text of old catalogs: readable, never counted with
    fee: str = ""
    issuing_mode: str = ""
    # The other 办事指南 fields (GUIDE_FIELDS), in the data only when set.
    conditions: str = ""  # 申请条件
    filing_methods: str = ""  # 申报方式
    acceptance_mode: str = ""  # 受理模式
    review_procedure: str = ""  # 审核程序
    # Structured limits per leg (ledger.catalog_limits; docs/supervision.md §3).
    time_limits: tuple[LegTimeLimit, ...] = ()
    # Derived from the units; kept as fields so the data file is self-describing.
    item_key: str = field(default="")
    sector: str = field(default="")
    cooperating_sectors: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Derived fields are filled when absent and checked when present, so a hand-edited file
        # cannot carry a key or sector that contradicts the item.
        expected = {
            "item_key": item_key_of(self.region, self.batch, self.seq),
            "sector": sector_of_unit(self.lead_unit),
            "cooperating_sectors": tuple(sector_of_unit(u) for u in self.cooperating_units),
        }
        for name, value in expected.items():
            current = getattr(self, name)
            if current in ("", ()):
                object.__setattr__(self, name, value)
            elif current != value:
                raise ValueError(f"{name} is {current!r}, expected {value!r}")
        object.__setattr__(self, "time_limits", parse_time_limits(self.time_limits))
        self._check_values()

    def _check_values(self) -> None:
        for name in _TEXT_FIELDS:
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be text, got {type(getattr(self, name)).__name__}")
        for name in ("local_names", "cooperating_units"):
            if any(not isinstance(value, str) for value in getattr(self, name)):
                raise ValueError(f"{name} must be a list of text")
        if self.batch not in BATCHES:
            raise ValueError(f"batch must be one of {BATCHES}, got {self.batch}")
        if self.seq < 1:
            raise ValueError(f"seq must be positive, got {self.seq}")
        if not self.channels or any(c not in CHANNELS for c in self.channels):
            raise ValueError(f"channels must be a non-empty subset of {CHANNELS}")
        if list(self.channels) != sorted(set(self.channels)):
            raise ValueError("channels must be sorted and unique")
        if self.coordination not in COORDINATIONS:
            raise ValueError(f"coordination must be one of {COORDINATIONS}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if self.mode_source not in MODE_SOURCES:
            raise ValueError(f"mode_source must be one of {MODE_SOURCES}")
        if self.twin_match not in TWIN_MATCHES:
            raise ValueError(f"twin_match must be one of {TWIN_MATCHES}")
        if not self.lead_unit or not self.local_names:
            raise ValueError("an item needs a lead unit and at least one local name")

    @property
    def units(self) -> tuple[str, ...]:
        """The lead unit first, then the cooperating units."""
        return (self.lead_unit, *self.cooperating_units)

    def to_dict(self) -> dict[str, Any]:
        """The item as JSON-ready data (lists for tuples); the shape of the data file.

        ``time_limits`` and the :data:`GUIDE_FIELDS` appear only when set, so catalogs without
        them keep their version."""
        limits = (
            {"time_limits": [t.to_dict() for t in self.time_limits]} if self.time_limits else {}
        )
        guide = {name: getattr(self, name) for name in GUIDE_FIELDS if getattr(self, name)}
        return (
            limits
            | guide
            | {
                "basis": self.basis,
                "batch": self.batch,
                "channels": list(self.channels),
                "cooperating_sectors": list(self.cooperating_sectors),
                "cooperating_units": list(self.cooperating_units),
                "coordination": self.coordination,
                "deadline_text": self.deadline_text,
                "fee": self.fee,
                "handling_text": self.handling_text,
                "issuing_mode": self.issuing_mode,
                "item_code": self.item_code,
                "item_key": self.item_key,
                "item_type": self.item_type,
                "lead_unit": self.lead_unit,
                "local_names": list(self.local_names),
                "mode_source": self.mode_source,
                "national_name": self.national_name,
                "region": self.region,
                "scenario": self.scenario,
                "sector": self.sector,
                "seq": self.seq,
                "status": self.status,
                "time_limit": self.time_limit,
                "twin_item_key": self.twin_item_key,
                "twin_match": self.twin_match,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogItem:
        """Rebuild an item from :meth:`to_dict` output; unknown or missing keys are refused."""
        expected = set(cls.__dataclass_fields__)
        for optional in ("time_limits", *GUIDE_FIELDS):  # only when set (:meth:`to_dict`)
            if optional not in data:
                expected.discard(optional)
        if set(data) != expected:
            missing = sorted(expected - set(data))
            extra = sorted(set(data) - expected)
            raise ValueError(f"catalog item keys differ: missing {missing}, unexpected {extra}")
        values = dict(data)
        for name in ("local_names", "cooperating_units", "cooperating_sectors", "channels"):
            values[name] = tuple(values[name])
        values["time_limits"] = parse_time_limits(values.get("time_limits", []))
        return cls(**values)


def catalog_version(items: Iterable[CatalogItem]) -> str:
    """SHA-256 (hex) of the canonical JSON of the items, ordered by (region, batch, seq).

    Canonical JSON: ``json.dumps`` of the list of :meth:`CatalogItem.to_dict` with sorted keys,
    separators ``(",", ":")``, ``ensure_ascii=False``, encoded as UTF-8 (``docs/catalog.md``).
    """
    ordered = sorted(items, key=lambda item: (item.region, item.batch, item.seq))
    canonical = json.dumps(
        [item.to_dict() for item in ordered],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Catalog:
    """All items of one region, ordered by batch and seq."""

    region: str
    region_name: str
    items: tuple[CatalogItem, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.items, key=lambda item: (item.batch, item.seq)))
        object.__setattr__(self, "items", ordered)
        keys = [item.item_key for item in ordered]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate items in the catalog of region {self.region}")
        if any(item.region != self.region for item in ordered):
            raise ValueError(f"an item of another region is in the catalog of {self.region}")

    @cached_property
    def version(self) -> str:
        """The catalog's content hash; cases pin the version they ran under."""
        return catalog_version(self.items)

    def item(self, batch: int, seq: int) -> CatalogItem:
        """The item at ``batch``/``seq``; raises :class:`UnknownItem`."""
        for candidate in self.items:
            if candidate.batch == batch and candidate.seq == seq:
                return candidate
        raise UnknownItem(self.region, batch, seq)

    def filter(
        self,
        *,
        batch: int | None = None,
        channel: str | None = None,
        status: str | None = None,
        unit: str | None = None,
    ) -> tuple[CatalogItem, ...]:
        """Items matching every given filter.

        ``channel`` matches items that offer it among others; ``unit`` matches a substring of the
        lead or any cooperating unit, white space ignored. Values outside the vocabularies raise
        ``ValueError`` so a typo never reads as "no items".
        """
        if batch is not None and batch not in BATCHES:
            raise ValueError(f"batch must be one of {BATCHES}, got {batch!r}")
        if channel is not None and channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        unit_text = "".join(unit.split()) if unit is not None else None
        return tuple(
            item
            for item in self.items
            if (batch is None or item.batch == batch)
            and (channel is None or channel in item.channels)
            and (status is None or item.status == status)
            and (unit_text is None or any(unit_text in u for u in item.units))
        )

    def amended(self, changes: Sequence[Any]) -> Catalog:
        """A new version with ``changes`` applied: ``[{"item", "field", "value"}, ...]``.

        Modes (channels, coordination, status) changed this way get ``mode_source = admin``;
        derived fields (sector, cooperating sectors) follow the units.
        """
        by_key = {item.item_key: item for item in self.items}
        for n, change in enumerate(changes):
            if not isinstance(change, Mapping) or set(change) != {"item", "field", "value"}:
                raise ValueError(f"change {n} is not {{item, field, value}}")
            key, name, value = change["item"], change["field"], change["value"]
            if key not in by_key:
                raise ValueError(f"change {n}: no item {key} in region {self.region}")
            if name not in AMENDABLE_FIELDS:
                raise ValueError(
                    f"change {n}: field {name!r} cannot be amended "
                    f"(amendable: {', '.join(AMENDABLE_FIELDS)})"
                )
            data = by_key[key].to_dict()
            data[name] = list(value) if isinstance(value, list | tuple) else value
            if name in ("time_limits", *GUIDE_FIELDS) and not value:
                del data[name]
            if name in ("channels", "coordination", "status"):
                data["mode_source"] = "admin"
            if name in ("lead_unit", "cooperating_units"):
                data["sector"], data["cooperating_sectors"] = "", []
            by_key[key] = CatalogItem.from_dict(data)
        return Catalog(self.region, self.region_name, tuple(by_key.values()))

    def to_document(self) -> dict[str, Any]:
        """The data-file shape: region, name, version and items."""
        return {
            "region": self.region,
            "region_name": self.region_name,
            "version": self.version,
            "items": [item.to_dict() for item in self.items],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Catalog:
        """Rebuild a catalog from a data file, checking its recorded version."""
        try:
            items = tuple(CatalogItem.from_dict(entry) for entry in document["items"])
            catalog = cls(
                region=document["region"], region_name=document["region_name"], items=items
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptCatalog(f"catalog data is malformed: {error}") from error
        if catalog.version != document.get("version"):
            raise CorruptCatalog(
                f"catalog of region {catalog.region} records version {document.get('version')!r}"
                f" but its content hashes to {catalog.version!r}; regenerate it with"
                " tools/convert_catalog.py"
            )
        return catalog


def _data_directory() -> Traversable:
    try:
        return resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR)
    except NotADirectoryError:
        # An editable install made before ledger/__init__.py existed imports "ledger" as a
        # namespace whose path holds a non-directory placeholder, which importlib.resources
        # (3.11) refuses; the data still sits beside this module.
        return Path(__file__).with_name(_DATA_DIR)


def regions() -> tuple[str, ...]:
    """The region codes whose catalog ships with the package, sorted."""
    return tuple(sorted(REGION_NAMES))


@cache
def load_catalog(region: str) -> Catalog:
    """The packaged catalog of ``region``.

    Raises :class:`UnknownRegion` or :class:`CorruptCatalog`.
    """
    if region not in REGION_NAMES:
        raise UnknownRegion(region)
    resource = _data_directory().joinpath(f"{region}.json")
    try:
        document = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CorruptCatalog(f"cannot read the catalog of region {region}: {error}") from error
    catalog = Catalog.from_document(document)
    if catalog.region != region:
        raise CorruptCatalog(f"{region}.json holds the catalog of region {catalog.region}")
    return catalog


def load_catalogs(codes: Sequence[str] | None = None) -> tuple[Catalog, ...]:
    """The packaged catalogs of ``codes`` (default: every shipped region)."""
    return tuple(load_catalog(code) for code in (codes if codes is not None else regions()))


_ITEM_KEY = re.compile(r"([0-9]{6})/([1-9][0-9]*)/([1-9][0-9]*)", re.ASCII)


def find_item(item_key: str) -> CatalogItem:
    """The packaged item with key ``region/batch/seq``, as cases reference it.

    Raises :class:`MalformedItemKey`, :class:`UnknownRegion` or :class:`UnknownItem`.
    """
    match = _ITEM_KEY.fullmatch(item_key)
    if match is None:
        raise MalformedItemKey(item_key)
    region, batch, seq = match.group(1), int(match.group(2)), int(match.group(3))
    return load_catalog(region).item(batch, seq)
