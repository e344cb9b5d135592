"""The service catalog: which 跨省通办 items a region offers and how each is handled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Services
from api.errors import ApiProblem
from api.schemas import problem_responses
from ledger.catalog import (
    Catalog,
    CatalogItem,
    Channel,
    Coordination,
    ModeSource,
    Status,
    TwinMatch,
    UnknownItem,
    UnknownRegion,
    regions,
)

router = APIRouter(prefix="/catalog", tags=["catalog"], responses=problem_responses(404, 422))

# The catalog's content hash, so a client can pin the version a case runs under.
VERSION_HEADER = "Catalog-Version"


class CatalogRegionPublic(BaseModel):
    """One region's catalog at a glance."""

    region: str = Field(description="GB/T 2260 region code", examples=["510000"])
    region_name: str = Field(examples=["四川省"])
    count: int = Field(description="number of items")
    batch_counts: dict[str, int] = Field(description="items per batch, keyed by batch number")
    version: str = Field(description="SHA-256 (hex) of the canonical item list; docs/catalog.md")


class CatalogItemPublic(BaseModel):
    """One catalog item; ``docs/catalog.md`` defines every field."""

    model_config = ConfigDict(frozen=True)

    item_key: str = Field(examples=["510000/1/8"])
    region: str
    batch: int = Field(ge=1, le=3)
    seq: int = Field(ge=1)
    national_name: str
    local_names: list[str]
    lead_unit: str
    cooperating_units: list[str]
    sector: str
    cooperating_sectors: list[str]
    scenario: str
    handling_text: str
    deadline_text: str
    channels: list[Channel]
    coordination: Coordination
    status: Status
    mode_source: ModeSource
    twin_item_key: str
    twin_match: TwinMatch
    item_code: str
    basis: str
    item_type: str
    time_limit: str
    fee: str
    issuing_mode: str
    conditions: str = Field(default="", description='申请条件 ("": not published)')
    filing_methods: str = Field(default="", description='申报方式 ("": not published)')
    acceptance_mode: str = Field(default="", description='受理模式 ("": not published)')
    review_procedure: str = Field(default="", description='审核程序 ("": not published)')

    @classmethod
    def from_item(cls, item: CatalogItem) -> CatalogItemPublic:
        return cls.model_validate(item.to_dict())


def _current(node: Services, region: str) -> Catalog:
    """The version new cases of ``region`` must pin on this node now: a signed amendment (made
    by ``tongban catalog amend`` in another process, perhaps) wins over the packaged catalog."""
    node.ledger.refresh_registry()
    return node.ledger.registry.catalogs.current(region, node.clock())


def _catalog_or_404(node: Services, region: str) -> Catalog:
    try:
        return _current(node, region)
    except UnknownRegion as error:
        raise ApiProblem(404, str(error), reason="not_found", field="region") from error


RegionPath = Annotated[str, Path(description="GB/T 2260 region code", examples=["510000"])]


@router.get("")
def list_regions(node: Services) -> list[CatalogRegionPublic]:
    """Every region with a catalog: item counts and the version new cases pin now."""
    summaries = []
    for code in regions():
        catalog = _current(node, code)
        batch_counts: dict[str, int] = {}
        for item in catalog.items:
            batch_counts[str(item.batch)] = batch_counts.get(str(item.batch), 0) + 1
        summaries.append(
            CatalogRegionPublic(
                region=catalog.region,
                region_name=catalog.region_name,
                count=len(catalog.items),
                batch_counts=batch_counts,
                version=catalog.version,
            )
        )
    return summaries


@router.get("/{region}")
def list_items(
    region: RegionPath,
    response: Response,
    node: Services,
    batch: Annotated[int | None, Query(ge=1, le=3, description="1, 2 or 3")] = None,
    channel: Annotated[Channel | None, Query(description="items offering this channel")] = None,
    status: Annotated[Status | None, Query()] = None,
    unit: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="part of a lead or cooperating unit"),
    ] = None,
) -> list[CatalogItemPublic]:
    """The region's items, narrowed by every filter given; the version is in a header."""
    catalog = _catalog_or_404(node, region)
    items = catalog.filter(batch=batch, channel=channel, status=status, unit=unit)
    response.headers[VERSION_HEADER] = catalog.version
    return [CatalogItemPublic.from_item(item) for item in items]


@router.get("/{region}/{batch}/{seq}")
def get_item(
    region: RegionPath,
    batch: Annotated[int, Path()],
    seq: Annotated[int, Path()],
    response: Response,
    node: Services,
) -> CatalogItemPublic:
    """One item by region, batch and seq (its ``item_key``)."""
    catalog = _catalog_or_404(node, region)
    try:
        item = catalog.item(batch, seq)
    except UnknownItem as error:
        raise ApiProblem(404, str(error), reason="not_found", field="seq") from error
    response.headers[VERSION_HEADER] = catalog.version
    return CatalogItemPublic.from_item(item)
