"""The demo's bodies (organizations) and where its cases and applicants are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.keys import BodyView

HOME_REGION = "510000"
BULK_BODY = "510104-RS"  # whose officers sign the bulk loader's steps (``events``)
JIANGSU = "320000"


# -- organizations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BodySpec:
    """A demo body: GB/T 2260 division, level, sector (the catalog's names) and roles."""

    body_id: str
    name: str
    region: str
    division: str
    level: str
    sector: str
    roles: tuple[str, ...]
    parent: str = ""
    officers: int = 2

    def org(self) -> dict[str, Any]:
        org: dict[str, Any] = {
            "division": self.division,
            "level": self.level,
            "sector": self.sector,
            "roles": list(self.roles),
        }
        if self.parent:
            org["parent"] = self.parent
        return org

    def view(self) -> BodyView:
        return BodyView(
            self.body_id,
            self.region,
            self.division,
            self.level,
            self.sector,
            frozenset(self.roles),
        )

    def officer_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.body_id.lower()}-{n:02d}" for n in range(1, self.officers + 1))

    def covers(self, jurisdiction: str) -> bool:
        """Same rule as the workflow's entitlement: province 2, city 4, county 6 digits."""
        prefix = {"province": 2, "city": 4}.get(self.level, 6)
        return jurisdiction[:prefix] == self.division[:prefix]


_HANDLER = ("handler",)
_IN_WINDOW = ("in_province_window",)
_CROSS_WINDOW = ("cross_province_window",)
_RS = "人力资源社会保障"


def _body(
    body_id: str, name: str, level: str, sector: str, roles: tuple[str, ...], parent: str = ""
) -> BodySpec:
    # The id starts with the body's GB/T 2260 division; the region is its province.
    division = body_id[:6]
    region = f"{division[:2]}0000"
    return BodySpec(body_id, name, region, division, level, sector, roles, parent)


def demo_bodies() -> tuple[BodySpec, ...]:
    """The demo's bodies: Sichuan handlers and windows, Jiangsu windows and origin bodies."""
    return (
        _body("510000-RS", "四川省人力资源和社会保障厅", "province", _RS, _HANDLER),
        _body("510100-RS", "成都市人力资源和社会保障局", "city", _RS, _HANDLER, "510000-RS"),
        _body(
            "510104-RS", "成都市锦江区人力资源和社会保障局", "county", _RS, _HANDLER, "510100-RS"
        ),
        _body("510000-SCJG", "四川省市场监督管理局", "province", "市场监管", _HANDLER),
        _body("510100-SCJG", "成都市市场监督管理局", "city", "市场监管", _HANDLER, "510000-SCJG"),
        _body(
            "510104-SCJG",
            "成都市锦江区市场监督管理局",
            "county",
            "市场监管",
            _HANDLER,
            "510100-SCJG",
        ),
        _body("510100-YB", "成都市医疗保障局", "city", "医保", _HANDLER),
        _body("510100-GJJ", "成都住房公积金管理中心", "city", "住房城乡建设", _HANDLER),
        _body("510100-GA", "成都市公安局", "city", "公安", _HANDLER),
        _body("510100-SF", "成都市司法局", "city", "司法", _HANDLER),
        _body("510000-ZWFW", "四川省政务服务中心", "province", "政务服务", _IN_WINDOW),
        _body("510104-ZWFW", "成都市锦江区政务服务中心", "county", "政务服务", _IN_WINDOW),
        _body("320105-ZWFW", "南京市建邺区政务服务中心", "county", "政务服务", _CROSS_WINDOW),
        _body("320102-ZWFW", "南京市玄武区政务服务中心", "county", "政务服务", _CROSS_WINDOW),
        _body("320105-RS", "南京市建邺区人力资源和社会保障局", "county", _RS, _HANDLER),
        _body("320100-YB", "南京市医疗保障局", "city", "医保", _HANDLER),
        _body("320100-GJJ", "南京住房公积金管理中心", "city", "住房城乡建设", _HANDLER),
    )


# Where Sichuan cases are (GB/T 2260): Chengdu's central districts, two other cities' districts.
_CHENGDU_COUNTIES = ("510104", "510105", "510106", "510107", "510108")
_SICHUAN_COUNTIES = (*_CHENGDU_COUNTIES, "510703", "511102")
# Where the (fake) applicants' ID numbers say they were registered.
_APPLICANT_DIVISIONS = ("320105", "320102", "320106", "510104", "510107", "510105")
