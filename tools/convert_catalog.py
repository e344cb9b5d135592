"""Generate ``ledger/catalog_data/<region>.json`` from the two source documents.

Usage (from the repository root)::

    .venv/bin/python tools/convert_catalog.py [--seeds ../shared/seeds] [--out ledger/catalog_data]

The seeds are PDF extractions: tab-separated table rows under one heading per batch. This module
reads them, splits the cells that hold several names, classifies how each item is handled and
writes one deterministic JSON file per region. ``docs/catalog.md`` is the normative description
of every rule here; keep the two in step.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ledger.catalog import (
    REGION_NAMES,
    Catalog,
    CatalogItem,
    Channel,
    Coordination,
    ModeSource,
    Status,
    TwinMatch,
    item_key_of,
)

SICHUAN = "510000"
JIANGSU = "320000"
SEED_FILES = {SICHUAN: "000_2297bc18e53a0806.txt", JIANGSU: "003_1902e3fe6c9df511.txt"}
EXPECTED_BATCH_SIZES = {1: 58, 2: 74, 3: 8}

# "### 一、2020年底前实现“跨省通办”的事项(58项)" and the like; the plan's own "一、总体要求"
# headings lack "的事项" and so never open a table.
_BATCH_HEADING = re.compile(r"^#+\s*([一二三])、.*“跨省通办”的事项[（(](\d+)项[）)]\s*$")
_BATCH_OF_NUMERAL = {"一": 1, "二": 2, "三": 3}
_SEQ = re.compile(r"[1-9][0-9]*", re.ASCII)
# Jiangsu batch 1 items 55-58 lost their tab: "\t55 执业药师注册\t...".
_SEQ_GLUED_TO_NAME = re.compile(r"([1-9][0-9]*)\s+(\S.*)", re.ASCII)
# Sichuan batch 1 item 1: "司法厅、教育厅(排首位为牵头单位,下同)" — a note, not a unit.
_LEAD_UNIT_NOTE = re.compile(r"[（(]排首位为牵头单位[，,]下同[）)]")
# Jiangsu batch 3 item 7: "省人力资源和社会保障厅（配合单位：省医保局）".
_COOPERATING_IN_LEAD_CELL = re.compile(r"(.+?)[（(]配合单位[：:](.+)[）)]")
# Sichuan batch 2 item 16: "1.待遇发放关系转移；2.参保关系转移申请（个人）；3.…".
_NUMBERED_NAME = re.compile(r"(?:^|[；;])\s*[0-9]+[.．、]\s*")


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One item as read from a seed table, before classification."""

    batch: int
    seq: int
    national_name: str
    local_names: list[str]
    units: list[str]
    scenario: str
    handling_text: str = ""
    deadline_text: str = ""
    extra_units: list[str] = field(default_factory=list)


def _table_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (batch, cells) for every data row under a batch heading."""
    batch: int | None = None
    for line in text.splitlines():
        heading = _BATCH_HEADING.match(line.strip())
        if heading:
            batch = _BATCH_OF_NUMERAL[heading.group(1)]
            if int(heading.group(2)) != EXPECTED_BATCH_SIZES[batch]:
                raise ValueError(f"batch {batch} heading announces {heading.group(2)} items")
            continue
        # Only tab-separated lines are table rows; notes and page furniture have no tab.
        if batch is None or "\t" not in line or line.startswith("序号"):
            continue
        yield batch, line.split("\t")


def split_units(cell: str) -> list[str]:
    """Units of one cell, separated by 、; spaces that only wrap a name are removed."""
    cell = _LEAD_UNIT_NOTE.sub("", cell)
    units = ["".join(part.split()) for part in cell.split("、")]
    return [unit for unit in units if unit]


def split_local_names(cell: str) -> list[str]:
    """Names of one Sichuan 对应我省事项名称 cell.

    A numbered list is split at its numbers (which are dropped); otherwise white space separates
    names, because the PDF cell puts each name on its own line and no name contains a space.
    """
    cell = cell.strip()
    parts = _NUMBERED_NAME.split(cell) if _NUMBERED_NAME.match(cell) else cell.split()
    return [part.strip() for part in parts if part.strip()]


def parse_sichuan(text: str) -> list[Row]:
    """Rows of 川办发〔2020〕76号's 任务清单.

    Columns: 序号, 事项名称(国家清单), 责任单位, 对应我省事项名称, 办事场景, 办理方式[, 完成时限].
    """
    rows: list[Row] = []
    for batch, cells in _table_lines(text):
        cells = cells + [""] * (7 - len(cells))
        seq_text, national, units, local, scenario, handling, deadline = cells[:7]
        if not seq_text.strip():
            # A continuation row: one more Sichuan name (and a repeated unit) for the row above.
            if not rows or rows[-1].batch != batch:
                raise ValueError(f"continuation row without an item above it: {cells}")
            rows[-1].local_names.extend(split_local_names(local))
            rows[-1].extra_units.extend(split_units(units))
            continue
        rows.append(
            Row(
                batch=batch,
                seq=_parse_seq(seq_text),
                national_name=national.strip(),
                local_names=split_local_names(local),
                units=split_units(units),
                scenario=scenario.strip(),
                handling_text=handling.strip(),
                deadline_text=deadline.strip(),
            )
        )
    return rows


def parse_jiangsu(text: str) -> list[Row]:
    """Rows of Jiangsu's 任务分工: 序号, 事项, 应用场景, 牵头单位, 配合单位 (batch 3: 完成时限)."""
    rows: list[Row] = []
    for batch, cells in _table_lines(text):
        cells = cells + [""] * (5 - len(cells))
        seq_text, name, scenario, lead_cell, last = cells[:5]
        if not seq_text.strip():
            glued = _SEQ_GLUED_TO_NAME.fullmatch(name.strip())
            if glued is None:
                raise ValueError(f"Jiangsu row without 序号: {cells}")
            seq_text, name = glued.group(1), glued.group(2)
        lead_units, cooperating = _split_jiangsu_lead_cell(lead_cell)
        if batch == 3:
            deadline = last.strip()
        else:
            deadline = ""
            cooperating += split_units(last)
        rows.append(
            Row(
                batch=batch,
                seq=_parse_seq(seq_text),
                national_name=name.strip(),
                # Jiangsu lists no local names; its item is named by its own 事项 column.
                local_names=[name.strip()],
                units=lead_units + cooperating,
                scenario=scenario.strip(),
                deadline_text=deadline,
            )
        )
    return rows


def _split_jiangsu_lead_cell(cell: str) -> tuple[list[str], list[str]]:
    inside = _COOPERATING_IN_LEAD_CELL.fullmatch(cell.strip())
    if inside is None:
        return split_units(cell), []
    return split_units(inside.group(1)), split_units(inside.group(2))


def _parse_seq(text: str) -> int:
    if not _SEQ.fullmatch(text.strip()):
        raise ValueError(f"序号 {text!r} is not a number")
    return int(text.strip())


def check_rows(region: str, rows: Sequence[Row]) -> None:
    """Each batch complete, numbered 1..n without gaps or repeats."""
    for batch, size in EXPECTED_BATCH_SIZES.items():
        seqs = [row.seq for row in rows if row.batch == batch]
        if seqs != list(range(1, size + 1)):
            raise ValueError(f"region {region} batch {batch}: seqs {seqs} are not 1..{size}")


# ---------------------------------------------------------------------------------------------
# Classification (docs/catalog.md, "Handling modes")
# ---------------------------------------------------------------------------------------------

# Handling-text markers, in the words of Sichuan's 办理方式 column.
_ONLINE_MARKERS = ("网上", "政务服务网", "小程序", "门户网站")
_PROXY_MARKERS = ("异地来件",)
_DIRECT_MARKERS = ("直接办理", "直接结算", "婚姻登记机关办理", "户政窗口")
# Scenario markers: a scenario that settles on the spot is direct whatever the handling text.
_SCENARIO_DIRECT_MARKERS = ("直接结算", "婚姻登记机关办理")
_SCENARIO_ONLINE_MARKERS = ("网上",)
# Two places' bodies both act: 转入地与转出地协同办理, 迁入地和迁出地…协同办理, 转入地与军队经办
# 机构协同办理, and the housing-fund pair 购房地 (receives) / 缴存地 (pays out or certifies).
_JOINT_PATTERNS = (
    re.compile(r"协同办理"),
    re.compile(r"从缴存地"),
    re.compile(r"购房地.*缴存地|缴存地.*购房地"),
)
_NATIONAL_SYSTEM = re.compile(r"按照(?:国家|中国).{1,10}要求办理")
_PENDING_MARKERS = ("统一部署后", "逐步推开", "试点")
_VERIFY_MARKER = "核验"


@dataclass(frozen=True)
class Modes:
    channels: tuple[Channel, ...]
    coordination: Coordination
    status: Status
    source: ModeSource


def _contains_any(text: str, markers: Iterable[str]) -> bool:
    return any(marker in text for marker in markers)


def classify_coordination(scenario: str, handling_text: str = "") -> Coordination:
    """``joint`` when the text has bodies of two places both act, else ``single``."""
    text = scenario + handling_text
    return "joint" if any(pattern.search(text) for pattern in _JOINT_PATTERNS) else "single"


def classify_from_seed_text(scenario: str, handling_text: str, deadline_text: str) -> Modes:
    """Modes read from a province's own 办理方式 (and its scenario and 完成时限)."""
    channels: set[Channel] = set()
    if _contains_any(handling_text, _ONLINE_MARKERS):
        channels.add("online")
    if _contains_any(handling_text, _PROXY_MARKERS):
        channels.add("proxy")
    if _contains_any(handling_text, _DIRECT_MARKERS) or _contains_any(
        scenario, _SCENARIO_DIRECT_MARKERS
    ):
        channels.add("direct")
    if not channels:
        raise ValueError(f"no channel rule reads the handling text {handling_text!r}")
    status: Status
    if _NATIONAL_SYSTEM.search(handling_text):
        status = "national_system"
    elif _contains_any(handling_text + deadline_text, _PENDING_MARKERS):
        status = "pending"
    elif _VERIFY_MARKER in handling_text:
        status = "verify"
    else:
        status = "active"
    return Modes(
        channels=tuple(sorted(channels)),
        coordination=classify_coordination(scenario, handling_text),
        status=status,
        source="seed_text",
    )


def classify_from_scenario(national_name: str, scenario: str) -> Modes:
    """Modes read from the scenario alone, when no handling text of the same item exists.

    Without a handling text the plan's default for an application made 异地 is 异地代收代办
    (``proxy``) unless the scenario says the applicant applies online or is served on the spot.
    """
    channels: set[Channel] = set()
    if _contains_any(scenario, _SCENARIO_ONLINE_MARKERS):
        channels.add("online")
    if _contains_any(scenario, _SCENARIO_DIRECT_MARKERS):
        channels.add("direct")
    if not channels:
        channels.add("proxy")
    status: Status = "verify" if _VERIFY_MARKER in national_name + scenario else "active"
    return Modes(
        channels=tuple(sorted(channels)),
        coordination=classify_coordination(scenario),
        status=status,
        source="scenario",
    )


# ---------------------------------------------------------------------------------------------
# Twins
# ---------------------------------------------------------------------------------------------


def normalized_name(name: str) -> str:
    """The national name for twin matching: NFKC (（ → (), white space removed."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def twin_match(row: Row, twin: Row | None) -> TwinMatch:
    """``name`` when the same slot holds the same normalized name, ``slot`` when only the slot."""
    if twin is None:
        return ""
    if normalized_name(row.national_name) == normalized_name(twin.national_name):
        return "name"
    return "slot"


# ---------------------------------------------------------------------------------------------
# Items and files
# ---------------------------------------------------------------------------------------------


def _units_of(row: Row) -> tuple[str, tuple[str, ...]]:
    lead, *cooperating = row.units
    for unit in row.extra_units:
        if unit != lead and unit not in cooperating:
            cooperating.append(unit)
    return lead, tuple(cooperating)


def build_item(
    region: str, row: Row, modes: Modes, twin_region: str, twin: Row | None
) -> CatalogItem:
    lead, cooperating = _units_of(row)
    return CatalogItem(
        region=region,
        batch=row.batch,
        seq=row.seq,
        national_name=row.national_name,
        local_names=tuple(row.local_names),
        lead_unit=lead,
        cooperating_units=cooperating,
        scenario=row.scenario,
        handling_text=row.handling_text,
        deadline_text=row.deadline_text,
        channels=modes.channels,
        coordination=modes.coordination,
        status=modes.status,
        mode_source=modes.source,
        twin_item_key=item_key_of(twin_region, twin.batch, twin.seq) if twin else "",
        twin_match=twin_match(row, twin),
    )


def build_catalogs(seeds: Path) -> dict[str, Catalog]:
    """Both provinces' catalogs from the seed directory."""
    sichuan_rows = parse_sichuan((seeds / SEED_FILES[SICHUAN]).read_text(encoding="utf-8"))
    jiangsu_rows = parse_jiangsu((seeds / SEED_FILES[JIANGSU]).read_text(encoding="utf-8"))
    check_rows(SICHUAN, sichuan_rows)
    check_rows(JIANGSU, jiangsu_rows)
    sichuan_by_slot = {(row.batch, row.seq): row for row in sichuan_rows}
    jiangsu_by_slot = {(row.batch, row.seq): row for row in jiangsu_rows}

    sichuan_modes: dict[tuple[int, int], Modes] = {}
    sichuan_items = []
    for row in sichuan_rows:
        if row.handling_text:
            modes = classify_from_seed_text(row.scenario, row.handling_text, row.deadline_text)
        else:
            modes = classify_from_scenario(row.national_name, row.scenario)
        sichuan_modes[(row.batch, row.seq)] = modes
        twin = jiangsu_by_slot.get((row.batch, row.seq))
        sichuan_items.append(build_item(SICHUAN, row, modes, JIANGSU, twin))

    jiangsu_items = []
    for row in jiangsu_rows:
        twin = sichuan_by_slot.get((row.batch, row.seq))
        if twin is not None and twin_match(row, twin) == "name":
            # Jiangsu gives no handling text: the same national item is handled the same way.
            modes = replace(sichuan_modes[(twin.batch, twin.seq)], source="twin")
        else:
            # A slot twin with another name is another service (社会保障卡启用 vs 补卡): its
            # handling text says nothing about this item, so read this item's own scenario.
            modes = classify_from_scenario(row.national_name, row.scenario)
        jiangsu_items.append(build_item(JIANGSU, row, modes, SICHUAN, twin))

    return {
        SICHUAN: Catalog(SICHUAN, REGION_NAMES[SICHUAN], tuple(sichuan_items)),
        JIANGSU: Catalog(JIANGSU, REGION_NAMES[JIANGSU], tuple(jiangsu_items)),
    }


def render(catalog: Catalog) -> str:
    """The data file's exact text: sorted keys, ensure_ascii=False, indent=1, trailing newline."""
    return json.dumps(catalog.to_document(), sort_keys=True, ensure_ascii=False, indent=1) + "\n"


def write_catalogs(seeds: Path, out: Path) -> list[Path]:
    """Write ``<region>.json`` for both provinces into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for region, catalog in sorted(build_catalogs(seeds).items()):
        path = out / f"{region}.json"
        path.write_text(render(catalog), encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=Path("../shared/seeds"), help="seed dir")
    parser.add_argument(
        "--out", type=Path, default=Path("ledger/catalog_data"), help="output directory"
    )
    args = parser.parse_args(argv)
    for path in write_catalogs(args.seeds, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
