"""The license type registry."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from stdnum.cn import uscc

from licenses.errors import LicenseError, UnknownLicenseType
from licenses.identifiers import HolderKind, make_identifier, parse_identifier
from licenses.types import (
    DEMO_BODY_CODES,
    FaceField,
    LicenseType,
    all_types,
    get_type,
    types_for_item,
)

SEEDS = Path(os.environ.get("TONGBAN_SEEDS_DIR", "/work/shared/seeds"))
SICHUAN_SEED = SEEDS / "000_2297bc18e53a0806.txt"

REQUIRED_NAMES = {
    "营业执照",
    "社会保障卡",
    "残疾人证",
    "执业药师注册证",
    "公证书",
    "无犯罪记录证明",
    "户籍类证明",
    "排污许可证",
    "快递业务经营许可证",
    "工业产品生产许可证",
    "测绘作业证",
    "技工院校毕业证书",
    "技能人员职业资格证书",
    "专业技术人员职业资格证书",
    "就业创业证",
    "职业技能等级证书",
}

# The only published national type code in the registry (see licenses/types.py).
VERIFIED_CODES = {"营业执照": "11100000MB0143028R001"}


def _by_name(name: str) -> LicenseType:
    (found,) = [t for t in all_types() if t.name == name]
    return found


def test_required_types_are_registered() -> None:
    assert {t.name for t in all_types()} >= REQUIRED_NAMES
    assert len({t.name for t in all_types()}) == len(all_types())


def test_codes_are_unique_and_looked_up() -> None:
    codes = [t.code for t in all_types()]
    assert len(set(codes)) == len(codes)
    for license_type in all_types():
        assert get_type(license_type.code) is license_type


@pytest.mark.parametrize("code", ["11100000MB0143028R999", "", "x", None])
def test_unknown_code(code: str) -> None:
    with pytest.raises(UnknownLicenseType) as caught:
        get_type(code)
    assert isinstance(caught.value, LicenseError) and isinstance(caught.value, LookupError)


def test_only_verified_codes_are_not_provisional() -> None:
    assert {t.name: t.code for t in all_types() if not t.provisional} == VERIFIED_CODES


def _gb11714_check(body: str) -> str:
    """The GB 11714 organisation code check character of an 8-character body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, weights, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


@pytest.mark.parametrize("body", sorted(DEMO_BODY_CODES))
def test_demo_codes_are_valid_usccs_that_no_real_body_can_hold(body: str) -> None:
    code = DEMO_BODY_CODES[body]
    assert uscc.is_valid(code)
    assert code[8:10] == "TB"
    organisation_code = code[8:17]
    assert organisation_code[8] != _gb11714_check(organisation_code[:8])


def test_provisional_codes_use_a_demo_body_or_a_high_number() -> None:
    demo = set(DEMO_BODY_CODES.values())
    for license_type in all_types():
        if license_type.provisional:
            body, number = license_type.code[:18], license_type.code[18:]
            assert body in demo or number.startswith("9"), license_type.name
            if body in demo:
                assert DEMO_BODY_CODES[license_type.defining_body] == body


@pytest.mark.parametrize("license_type", all_types(), ids=lambda t: t.name)
def test_each_type_builds_identifiers(license_type: LicenseType) -> None:
    identifier = make_identifier(license_type.code, "11370800MB28559184", "2024000001")
    assert get_type(parse_identifier(identifier.text).type_code) is license_type


@pytest.mark.parametrize("license_type", all_types(), ids=lambda t: t.name)
def test_each_type_is_well_formed(license_type: LicenseType) -> None:
    assert license_type.items
    assert license_type.face_fields
    assert license_type.validity_years is None or license_type.validity_years > 0
    holder_fields = [f for f in license_type.face_fields if f.kind == "holder_code"]
    assert holder_fields, "every face names its holder"
    if license_type.holder_kind is HolderKind.USCC:
        assert any(f.key == "uscc" for f in holder_fields)


def test_types_for_item() -> None:
    assert [t.name for t in types_for_item("残疾人证迁移")] == ["残疾人证"]
    assert [t.name for t in types_for_item("社会保障卡补领、换领、换发")] == ["社会保障卡"]
    assert [t.name for t in types_for_item("营业执照遗失补领、换发")] == ["营业执照"]
    assert {t.name for t in types_for_item("执业药师注册")} == {
        "执业药师注册证",
        "专业技术人员职业资格证书",
    }
    assert types_for_item("结婚登记") == ()
    assert types_for_item("no such item") == ()


def test_every_item_maps_back_to_its_types() -> None:
    for license_type in all_types():
        for item in license_type.items:
            assert license_type in types_for_item(item)


def test_types_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _by_name("营业执照").name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        FaceField("k", "l").key = "x"  # type: ignore[misc]


def test_a_type_with_a_bad_code_cannot_be_built() -> None:
    with pytest.raises(LicenseError):
        dataclasses.replace(_by_name("营业执照"), code="11100000MB0143028X001")


def test_duplicate_face_keys_are_refused() -> None:
    business = _by_name("营业执照")
    with pytest.raises(ValueError, match="duplicate face field"):
        dataclasses.replace(business, face_fields=business.face_fields * 2)


def _seed_national_names() -> list[str]:
    """事项名称(国家清单) of every numbered row of the Sichuan task list."""
    names = []
    for line in SICHUAN_SEED.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if len(cells) >= 2 and cells[0].strip().isdigit():
            names.append(cells[1].strip())
    return names


@pytest.mark.skipif(not SICHUAN_SEED.is_file(), reason=f"seed file {SICHUAN_SEED} not present")
def test_item_names_exist_in_the_seed_list() -> None:
    names = _seed_national_names()
    assert len(names) == 140, "the task list has 58 + 74 + 8 items"
    known = set(names)
    for license_type in all_types():
        missing = [item for item in license_type.items if item not in known]
        assert not missing, f"{license_type.name}: not national item names: {missing}"
