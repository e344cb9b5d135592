"""The packaged service catalogs: counts, exact texts, handling modes, version, filters."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter

import pytest

from ledger.catalog import (
    CHANNELS,
    COORDINATIONS,
    STATUSES,
    Catalog,
    CatalogError,
    CatalogItem,
    CorruptCatalog,
    MalformedItemKey,
    UnknownItem,
    UnknownRegion,
    catalog_version,
    find_item,
    load_catalog,
    load_catalogs,
    regions,
    sector_of_unit,
)

SICHUAN = "510000"
JIANGSU = "320000"


@pytest.fixture(scope="module")
def sichuan() -> Catalog:
    return load_catalog(SICHUAN)


@pytest.fixture(scope="module")
def jiangsu() -> Catalog:
    return load_catalog(JIANGSU)


def test_both_regions_ship() -> None:
    assert regions() == (JIANGSU, SICHUAN)
    assert [c.region_name for c in load_catalogs()] == ["江苏省", "四川省"]


@pytest.mark.parametrize("region", [SICHUAN, JIANGSU])
def test_counts_per_batch(region: str) -> None:
    catalog = load_catalog(region)
    assert len(catalog.items) == 140
    assert Counter(item.batch for item in catalog.items) == {1: 58, 2: 74, 3: 8}
    for batch, size in ((1, 58), (2, 74), (3, 8)):
        assert [i.seq for i in catalog.items if i.batch == batch] == list(range(1, size + 1))


@pytest.mark.parametrize("region", [SICHUAN, JIANGSU])
def test_item_keys_are_region_batch_seq(region: str) -> None:
    for item in load_catalog(region).items:
        assert item.item_key == f"{region}/{item.batch}/{item.seq}"
        assert item.region == region


# --- exact texts ----------------------------------------------------------------------------


def test_sichuan_1_19_has_two_local_names_from_the_continuation_row(sichuan: Catalog) -> None:
    item = sichuan.item(1, 19)
    assert item.national_name == "技能人员职业资格证书查询、核验"
    assert item.local_names == ("国家职业资格证书查询、核验", "专项职业能力证书查询、核验")
    assert item.lead_unit == "人力资源社会保障厅"
    assert item.cooperating_units == ()


def test_sichuan_1_20_and_2_58_continuation_rows(sichuan: Catalog) -> None:
    assert sichuan.item(1, 20).local_names == (
        "全国专业技术人员职业资格证书查询、核验",
        "四川省专业技术人员职业资格证书查询、核验",
    )
    assert sichuan.item(2, 58).local_names == (
        "单位参保信息变更登记",
        "职工参保信息变更登记",
        "城乡居民参保信息变更登记",
    )


def test_sichuan_2_61_has_five_local_names(sichuan: Catalog) -> None:
    assert sichuan.item(2, 61).local_names == (
        "异地安置退休人员备案",
        "异地长期居住人员备案",
        "常驻异地工作人员备案",
        "异地转诊人员备案",
        "异地急诊、抢救住院登记备案",
    )


def test_sichuan_numbered_local_names_are_split(sichuan: Catalog) -> None:
    assert sichuan.item(2, 16).local_names == (
        "待遇发放关系转移",
        "参保关系转移申请（个人）",
        "参保关系转移申请（单位）",
    )
    assert sichuan.item(2, 60).local_names == ("出具《参保凭证》", "转移接续手续办理")
    assert len(sichuan.item(3, 8).local_names) == 4


def test_sichuan_keeps_typos_and_text_as_written(sichuan: Catalog) -> None:
    assert sichuan.item(2, 42).local_names == ("建立相对独立平面做表系统审批",)
    assert sichuan.item(1, 4).local_names == (
        "对司法部关于法律职业资格认定复审(享受放宽条件政策的除外)",
    )
    assert sichuan.item(1, 9).national_name == "机关事业单位基本养老保险关系转移接续（含职业年金）"


def test_sichuan_lead_unit_note_is_not_a_unit(sichuan: Catalog) -> None:
    item = sichuan.item(1, 1)
    assert item.lead_unit == "司法厅"
    assert item.cooperating_units == ("教育厅",)


def test_sichuan_units_in_order_first_leads(sichuan: Catalog) -> None:
    item = sichuan.item(1, 21)
    assert item.lead_unit == "自然资源厅"
    assert item.cooperating_units == (
        "公安厅",
        "民政厅",
        "住房城乡建设厅",
        "省卫生健康委",
        "省市场监管局",
        "人行成都分行",
    )


def test_sichuan_batch_3_deadlines(sichuan: Catalog) -> None:
    assert sichuan.item(3, 1).deadline_text == "待公安部统一部署后，逐步推开"
    assert sichuan.item(3, 5).deadline_text == "2022年6月底前"
    assert all(item.deadline_text == "" for item in sichuan.items if item.batch != 3)


def test_jiangsu_2_22_and_2_23_are_its_own_names(jiangsu: Catalog, sichuan: Catalog) -> None:
    assert jiangsu.item(2, 22).national_name == "社会保障卡补卡"
    assert jiangsu.item(2, 22).local_names == ("社会保障卡补卡",)
    assert jiangsu.item(2, 23).national_name == "社会保障卡换卡"
    assert sichuan.item(2, 22).national_name == "社会保障卡启用"
    assert sichuan.item(2, 23).national_name == "社会保障卡补领、换领、换发"


def test_jiangsu_1_49_lead_unit_wrap_space_removed(jiangsu: Catalog) -> None:
    assert jiangsu.item(1, 49).lead_unit == "民航江苏安全监管局"
    assert jiangsu.item(1, 37).lead_unit == "省市场监管局"
    assert jiangsu.item(1, 55).cooperating_units == ("省人力资源社会保障厅",)


def test_jiangsu_3_7_cooperating_unit_split_out_of_lead_cell(jiangsu: Catalog) -> None:
    item = jiangsu.item(3, 7)
    assert item.lead_unit == "省人力资源和社会保障厅"
    assert item.cooperating_units == ("省医保局",)
    assert item.sector == "人力资源社会保障"
    assert item.cooperating_sectors == ("医保",)


def test_jiangsu_seq_glued_to_name_is_recovered(jiangsu: Catalog) -> None:
    assert [jiangsu.item(1, seq).national_name for seq in (55, 56, 57, 58)] == [
        "执业药师注册",
        "执业药师延续注册",
        "执业药师变更注册",
        "执业药师注销注册",
    ]


def test_jiangsu_texts_as_written(jiangsu: Catalog) -> None:
    assert jiangsu.item(1, 4).national_name == "应届毕业生法律职业资格认定 (享受放宽条件政策的除外)"
    assert jiangsu.item(2, 64).cooperating_units == ("南京海关",)
    assert jiangsu.item(2, 45).cooperating_units[-1] == "人民银行南京分行"
    assert all(item.handling_text == "" for item in jiangsu.items)
    assert all(item.deadline_text == "" for item in jiangsu.items)
    assert jiangsu.item(1, 1).scenario.endswith("不受户籍地或学校所在地限制。")


@pytest.mark.parametrize("region", [SICHUAN, JIANGSU])
def test_no_unit_or_name_has_stray_white_space(region: str) -> None:
    for item in load_catalog(region).items:
        for unit in item.units:
            assert unit and not any(ch.isspace() for ch in unit), (item.item_key, unit)
        for name in item.local_names:
            assert name == name.strip() and name, item.item_key


@pytest.mark.parametrize("region", [SICHUAN, JIANGSU])
def test_guide_fields_are_empty_until_an_administrator_fills_them(region: str) -> None:
    for item in load_catalog(region).items:
        assert (item.item_code, item.basis, item.item_type) == ("", "", "")
        assert (item.time_limit, item.fee, item.issuing_mode) == ("", "", "")


# --- handling modes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "channels", "coordination", "status"),
    [
        ("510000/1/1", ("direct",), "single", "active"),  # notary office
        ("510000/1/4", ("direct",), "single", "active"),  # 市级司法机关直接办理
        ("510000/1/5", ("online",), "single", "active"),
        ("510000/1/7", ("online",), "joint", "active"),
        ("510000/1/8", ("proxy",), "joint", "active"),  # received elsewhere AND joint
        ("510000/1/17", ("online",), "single", "verify"),
        ("510000/1/28", ("proxy",), "single", "active"),
        ("510000/1/49", ("online",), "single", "national_system"),  # 中国民航局
        ("510000/2/3", ("direct",), "joint", "pending"),  # 户政窗口, 待公安部统一部署后
        ("510000/2/25", ("online",), "single", "verify"),
        ("510000/2/45", ("proxy",), "joint", "active"),  # 从缴存地…提取
        ("510000/2/53", ("online", "proxy"), "single", "active"),
        ("510000/2/62", ("direct",), "single", "active"),  # hospital direct settlement
        ("510000/2/64", ("online",), "single", "national_system"),  # 国家林草局
        ("510000/2/67", ("online",), "single", "national_system"),  # 国家邮政局
        ("510000/3/1", ("proxy",), "single", "pending"),  # 逐步推开 in 完成时限
        ("510000/3/3", ("direct",), "single", "pending"),  # marriage registry, pilots
        ("510000/3/7", ("direct", "online"), "single", "active"),
        ("320000/1/8", ("proxy",), "joint", "active"),
        ("320000/2/4", ("direct",), "joint", "pending"),
        ("320000/2/22", ("proxy",), "single", "active"),
    ],
)
def test_modes_of_specific_items(
    key: str, channels: tuple[str, ...], coordination: str, status: str
) -> None:
    item = find_item(key)
    assert (item.channels, item.coordination, item.status) == (channels, coordination, status)


@pytest.mark.parametrize("region", [SICHUAN, JIANGSU])
def test_every_mode_value_occurs_at_least_twice(region: str) -> None:
    items = load_catalog(region).items
    channel_counts = Counter(channel for item in items for channel in item.channels)
    assert all(channel_counts[value] >= 2 for value in CHANNELS), channel_counts
    assert all(Counter(i.coordination for i in items)[v] >= 2 for v in COORDINATIONS)
    assert all(Counter(i.status for i in items)[v] >= 2 for v in STATUSES)


@pytest.mark.parametrize("region", [SICHUAN, JIANGSU])
def test_channels_are_sorted_non_empty_sets(region: str) -> None:
    for item in load_catalog(region).items:
        assert item.channels and list(item.channels) == sorted(set(item.channels))


def test_sichuan_modes_come_from_its_own_text(sichuan: Catalog) -> None:
    for item in sichuan.items:
        expected = "seed_text" if item.handling_text else "scenario"
        assert item.mode_source == expected, item.item_key


def test_jiangsu_modes_are_copied_from_the_same_named_twin(
    jiangsu: Catalog, sichuan: Catalog
) -> None:
    for item in jiangsu.items:
        twin = find_item(item.twin_item_key)
        assert (twin.batch, twin.seq) == (item.batch, item.seq)
        if item.twin_match == "name":
            assert item.mode_source == "twin"
            assert (item.channels, item.coordination, item.status) == (
                twin.channels,
                twin.coordination,
                twin.status,
            )
        else:
            assert item.mode_source == "scenario", item.item_key
    slot_only = [item.item_key for item in jiangsu.items if item.twin_match == "slot"]
    assert slot_only == ["320000/2/22", "320000/2/23"]
    assert sichuan.item(2, 22).twin_item_key == "320000/2/22"
    assert sichuan.item(2, 22).twin_match == "slot"


def test_twins_match_after_nfkc_and_white_space(jiangsu: Catalog) -> None:
    # （ vs ( and a wrap space differ, yet they are the same national item.
    assert jiangsu.item(1, 4).twin_match == "name"
    assert jiangsu.item(1, 9).national_name == "机关事业单位基本养老保险关系转移接续(含职业年金)"
    assert jiangsu.item(1, 9).twin_match == "name"


# --- sectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "sector"),
    [
        ("省市场监管局", "市场监管"),
        ("省人力资源社会保障厅", "人力资源社会保障"),
        ("人力资源社会保障厅", "人力资源社会保障"),
        ("省人力资源和社会保障厅", "人力资源社会保障"),
        ("省住房和城乡建设厅", "住房城乡建设"),
        ("省公安厅", "公安"),
        ("省医保局", "医保"),
        ("省司法厅", "司法"),
        ("民政厅", "民政"),
        ("省卫生健康委", "卫生健康"),
        ("四川省税务局", "税务"),
        ("省残联", "残联"),
        ("省法院", "法院"),
        ("省高级人民法院", "法院"),
        ("民航江苏安全监管局", "民航"),
        ("民航西南地区管理局", "民航"),
        ("人行成都分行", "人民银行"),
        ("人民银行南京分行", "人民银行"),
        ("南京海关", "海关"),
    ],
)
def test_sector_of_unit(unit: str, sector: str) -> None:
    assert sector_of_unit(unit) == sector


def test_item_sectors_follow_units(sichuan: Catalog, jiangsu: Catalog) -> None:
    assert sichuan.item(1, 43).sector == "市场监管"
    assert jiangsu.item(2, 1).sector == "公安"
    for item in (*sichuan.items, *jiangsu.items):
        assert item.sector == sector_of_unit(item.lead_unit)
        assert item.cooperating_sectors == tuple(map(sector_of_unit, item.cooperating_units))


# --- version ----------------------------------------------------------------------------------


def test_version_is_sha256_of_canonical_item_json(sichuan: Catalog) -> None:
    canonical = json.dumps(
        [item.to_dict() for item in sichuan.items],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    assert sichuan.version == hashlib.sha256(canonical).hexdigest()
    assert sichuan.version == catalog_version(sichuan.items)
    assert len(sichuan.version) == 64


def test_version_is_stable_and_ignores_input_order(sichuan: Catalog) -> None:
    assert catalog_version(sichuan.items) == catalog_version(reversed(sichuan.items))
    rebuilt = Catalog(SICHUAN, "四川省", tuple(reversed(sichuan.items)))
    assert rebuilt.version == sichuan.version


def test_version_changes_when_content_changes(sichuan: Catalog) -> None:
    items = list(sichuan.items)
    items[7] = dataclasses.replace(items[7], fee="免费")
    assert catalog_version(items) != sichuan.version
    items = list(sichuan.items)
    items[0] = dataclasses.replace(items[0], channels=("direct", "online"))
    assert catalog_version(items) != sichuan.version


def test_regions_have_different_versions(sichuan: Catalog, jiangsu: Catalog) -> None:
    assert sichuan.version != jiangsu.version


def test_document_round_trip_and_tamper_detection(sichuan: Catalog) -> None:
    document = sichuan.to_document()
    assert Catalog.from_document(document) == sichuan
    document["items"][0]["national_name"] = "学历公证（改）"
    with pytest.raises(CorruptCatalog, match="regenerate"):
        Catalog.from_document(document)
    broken = sichuan.to_document()
    del broken["items"][0]["scenario"]
    with pytest.raises(CorruptCatalog, match="scenario"):
        Catalog.from_document(broken)


def test_item_rejects_contradicting_derived_fields(sichuan: Catalog) -> None:
    data = sichuan.item(1, 8).to_dict()
    assert CatalogItem.from_dict(data) == sichuan.item(1, 8)
    with pytest.raises(ValueError, match="item_key"):
        CatalogItem.from_dict({**data, "item_key": "510000/1/9"})
    with pytest.raises(ValueError, match="channels"):
        CatalogItem.from_dict({**data, "channels": ["fax"]})


# --- lookups and filters ----------------------------------------------------------------------


def test_unknown_region_and_item() -> None:
    with pytest.raises(UnknownRegion, match="110000"):
        load_catalog("110000")
    with pytest.raises(UnknownItem, match="batch 4 with seq 1"):
        load_catalog(SICHUAN).item(4, 1)
    with pytest.raises(UnknownItem):
        find_item("510000/1/59")
    with pytest.raises(MalformedItemKey):
        find_item("510000-1-8")
    assert issubclass(UnknownRegion, CatalogError) and issubclass(CatalogError, LookupError)


def test_find_item_by_key() -> None:
    assert find_item("510000/1/8").national_name == "城乡居民基本养老保险关系转移接续"
    assert find_item("320000/3/7").lead_unit == "省人力资源和社会保障厅"


def test_filters(sichuan: Catalog) -> None:
    assert len(sichuan.filter()) == 140
    assert len(sichuan.filter(batch=3)) == 8
    proxy = sichuan.filter(channel="proxy")
    assert all("proxy" in item.channels for item in proxy)
    assert sichuan.item(2, 53) in proxy and sichuan.item(2, 53) in sichuan.filter(channel="online")
    verify = sichuan.filter(status="verify")
    assert [item.item_key for item in verify] == [
        "510000/1/17",
        "510000/1/18",
        "510000/1/19",
        "510000/1/20",
        "510000/2/25",
    ]
    by_unit = sichuan.filter(unit="省市场 监管局")  # white space ignored, like the PDF wraps
    assert sichuan.item(1, 31) in by_unit  # lead
    assert sichuan.item(1, 21) in by_unit  # cooperating
    combined = sichuan.filter(batch=2, channel="direct", status="pending")
    assert [item.seq for item in combined] == [3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    "bad",
    [{"batch": 4}, {"channel": "fax"}, {"status": "done"}],
)
def test_invalid_filter_values_raise(sichuan: Catalog, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        sichuan.filter(**bad)  # type: ignore[arg-type]


def test_guide_fields_are_in_an_items_data_only_when_set() -> None:
    """申请条件, 申报方式, 受理模式, 审核程序: absent from the packaged items (their versions
    stay), written once an amendment sets one, and gone again when it is set to ""."""
    packaged = load_catalog(SICHUAN)
    assert not {"conditions", "review_procedure"} & set(packaged.items[0].to_dict())
    key = packaged.items[0].item_key
    amended = packaged.amended([{"item": key, "field": "conditions", "value": "年满16周岁"}])
    item = amended.item(packaged.items[0].batch, packaged.items[0].seq)
    assert item.to_dict()["conditions"] == "年满16周岁" and amended.version != packaged.version
    cleared = amended.amended([{"item": key, "field": "conditions", "value": ""}])
    assert cleared.version == packaged.version


@pytest.mark.parametrize("value", [5, True, ["不收费"], None])
def test_a_text_field_refuses_a_value_that_is_not_text(value: object) -> None:
    """Every text field of an item, ``fee`` among them, took any JSON value (a number became
    part of the catalog version that a strict verifier elsewhere would refuse)."""
    packaged = load_catalog(SICHUAN)
    key = packaged.items[0].item_key
    with pytest.raises(ValueError, match="fee must be text"):
        packaged.amended([{"item": key, "field": "fee", "value": value}])
