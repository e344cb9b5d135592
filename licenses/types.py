"""The license type registry: which electronic licenses Tongban knows and what they look like.

A ``LicenseType`` is keyed by its GB/T 36904 type code (证照类型代码: the defining body's USCC
and a 3-digit number). ``items`` lists the national item names (事项名称(国家清单)) of the
跨省通办 task list that issue, re-issue, change, revoke or check a license of that type,
character for character as in the Sichuan list's 国家清单 column (seed
``000_2297bc18e53a0806.txt``); Jiangsu's list names batch 2 items 22-23 differently
(社会保障卡补卡, 社会保障卡换卡) and the catalog maps those onto the national names used here.

**Type codes are provisional until the national catalogue's codes are configured.** Only one
code here is a published national code:

- ``11100000MB0143028R001`` 营业执照 — 国家市场监督管理总局's USCC ``11100000MB0143028R`` is
  the node id of its own information-disclosure site (samr.gov.cn); the full type code is the
  ``certtype`` a public Shandong (Jinan) 电子证照 integration records for business licenses.

Every other type has ``provisional=True``:

- 工业产品生产许可证 uses the real SAMR USCC with a ``9xx`` number (Tongban's range, chosen
  high to stay clear of the ministry's low sequential numbers);
- the rest use **demo USCCs** of the form ``1x100000TB00000n?C``: ``TB`` marks Tongban, and
  the 9-character organisation code deliberately carries a *wrong* GB 11714 check digit, so no
  real body can ever hold one, while the USCC check character (GB 32100) is right so the codes
  pass ``stdnum.cn.uscc`` and build valid identifiers.

``validity_years`` is the statutory term where a regulation fixes one (cited by the entry);
``None`` means the license does not expire by itself (or its term is set case by case).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from licenses.errors import UnknownLicenseType
from licenses.identifiers import HolderKind, validate_type_code

__all__ = [
    "DEMO_BODY_CODES",
    "FaceField",
    "FieldKind",
    "LicenseType",
    "all_types",
    "get_type",
    "types_for_item",
]

FieldKind = Literal["text", "date", "holder_code"]


@dataclass(frozen=True, slots=True)
class FaceField:
    """One field printed on the license face (照面信息)."""

    key: str  # machine name, snake_case; stable across versions
    label: str  # the label as printed
    kind: FieldKind = "text"
    required: bool = True


@dataclass(frozen=True, slots=True)
class LicenseType:
    """A kind of electronic license and the national items that touch it."""

    code: str  # 21-character GB/T 36904 type code
    name: str
    defining_body: str
    items: tuple[str, ...]
    face_fields: tuple[FaceField, ...]
    validity_years: int | None
    holder_kind: HolderKind
    provisional: bool  # True until the national catalogue's code is configured

    def __post_init__(self) -> None:
        validate_type_code(self.code)
        keys = [f.key for f in self.face_fields]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.name}: duplicate face field keys")
        if len(set(self.items)) != len(self.items):
            raise ValueError(f"{self.name}: duplicate items")


# Real USCC, see the module docstring.
_SAMR: Final = "11100000MB0143028R"  # 国家市场监督管理总局

#: Demo USCCs of the other defining bodies (provisional; see the module docstring).
DEMO_BODY_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "人力资源和社会保障部": "11100000TB0000010H",
        "中国残疾人联合会": "13100000TB0000020C",  # 13: a 群众团体 in GB 32100
        "国家药品监督管理局": "11100000TB0000030K",
        "司法部": "11100000TB0000040L",
        "公安部": "11100000TB0000050M",
        "生态环境部": "11100000TB0000061R",
        "国家邮政局": "11100000TB0000070P",
        "自然资源部": "11100000TB0000080Q",
    }
)


def _demo(body: str, number: str) -> str:
    return DEMO_BODY_CODES[body] + number


def _f(key: str, label: str, kind: FieldKind = "text", *, required: bool = True) -> FaceField:
    return FaceField(key, label, kind, required)


# Fields most person-held licenses print.
_NAME = _f("holder_name", "姓名")
_RIC = _f("holder_id", "公民身份号码", "holder_code")
_ISSUER = _f("issuer", "发证机关")
_ISSUED = _f("issued_on", "发证日期", "date")

_MOHRSS = "人力资源和社会保障部"

_TYPES: Final[tuple[LicenseType, ...]] = (
    LicenseType(
        code=_SAMR + "001",
        name="营业执照",
        defining_body="国家市场监督管理总局",
        items=(
            "内资企业及分支机构设立登记",
            "内资企业及分支机构变更登记",
            "内资企业及分支机构注销登记",
            "外资企业及分支机构设立登记",
            "外资企业及分支机构变更登记",
            "外资企业及分支机构注销登记",
            "个体工商户设立登记",
            "个体工商户变更登记",
            "个体工商户注销登记",
            # 农民专业合作社 receive a 农民专业合作社法人营业执照.
            "农民专业合作社设立登记",
            "农民专业合作社变更登记",
            "农民专业合作社注销登记",
            "营业执照遗失补领、换发",
        ),
        face_fields=(
            _f("uscc", "统一社会信用代码", "holder_code"),
            _f("entity_name", "名称"),
            _f("entity_type", "类型"),
            # 法定代表人 / 经营者 / 负责人 / 执行事务合伙人, by entity type.
            _f("representative", "法定代表人"),
            _f("business_scope", "经营范围"),
            _f("registered_capital", "注册资本", required=False),
            _f("established_on", "成立日期", "date"),
            _f("operating_term", "营业期限", required=False),
            _f("address", "住所"),
            _f("registration_authority", "登记机关"),
            _f("registered_on", "登记日期", "date"),
        ),
        validity_years=None,  # 营业期限 is per enterprise, often 长期
        holder_kind=HolderKind.USCC,
        provisional=False,
    ),
    LicenseType(
        code=_SAMR + "901",
        name="工业产品生产许可证",
        defining_body="国家市场监督管理总局",
        items=("工业产品生产许可证发证", "工业产品生产许可证注销"),
        face_fields=(
            _f("certificate_no", "证书编号"),
            _f("entity_name", "企业名称"),
            _f("uscc", "统一社会信用代码", "holder_code"),
            _f("address", "住所"),
            _f("production_address", "生产地址"),
            _f("product", "产品名称"),
            _f("valid_until", "有效期至", "date"),
            _ISSUER,
            _ISSUED,
        ),
        validity_years=5,  # 《工业产品生产许可证管理条例》: 有效期为5年
        holder_kind=HolderKind.USCC,
        provisional=True,
    ),
    LicenseType(
        code=_demo(_MOHRSS, "001"),
        name="社会保障卡",
        defining_body=_MOHRSS,
        items=(
            "电子社会保障卡申领",
            "社会保障卡申领",
            "社会保障卡启用",
            "社会保障卡补领、换领、换发",
            "社会保障卡临时挂失",
            # These settle medical costs on presentation of the card: they check it.
            "门诊费用跨省直接结算",
            "工伤职工异地就医结算",
        ),
        face_fields=(
            _NAME,
            _f("social_security_no", "社会保障号码", "holder_code"),
            _f("card_no", "卡号"),
            _f("issued_on", "发卡日期", "date"),
            _f("valid_until", "有效期限", "date", required=False),
        ),
        validity_years=None,  # set per card generation by the issuing bank and province
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo(_MOHRSS, "002"),
        name="就业创业证",
        defining_body=_MOHRSS,
        # 失业登记 is recorded in (and, the first time, issues) the 就业创业证.
        items=("失业登记", "就业创业证查询、核验"),
        face_fields=(_f("certificate_no", "证书编号"), _NAME, _RIC, _ISSUER, _ISSUED),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo(_MOHRSS, "003"),
        name="技工院校毕业证书",
        defining_body=_MOHRSS,
        items=("技工院校毕业证书查询、核验",),
        face_fields=(
            _f("certificate_no", "证书编号"),
            _NAME,
            _RIC,
            _f("school", "学校名称"),
            _f("major", "专业"),
            _f("length_of_schooling", "学制"),
            _f("graduated_on", "毕业日期", "date"),
        ),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo(_MOHRSS, "004"),
        name="技能人员职业资格证书",
        defining_body=_MOHRSS,
        items=("技能人员职业资格证书查询、核验",),
        face_fields=(
            _f("certificate_no", "证书编号"),
            _NAME,
            _RIC,
            _f("occupation", "职业（工种）"),
            _f("level", "等级"),
            _ISSUER,
            _ISSUED,
        ),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo(_MOHRSS, "005"),
        name="专业技术人员职业资格证书",
        defining_body=_MOHRSS,
        items=(
            "专业技术人员职业资格证书查询、核验",
            # Registration requires the 执业药师职业资格证书, one of these certificates.
            "执业药师注册",
        ),
        face_fields=(
            _f("management_no", "管理号"),
            _NAME,
            _RIC,
            _f("qualification", "资格名称"),
            _f("specialty_level", "专业（级别）", required=False),
            _f("approved_on", "批准日期", "date"),
            _f("issuer", "签发单位"),
        ),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo(_MOHRSS, "006"),
        name="职业技能等级证书",
        defining_body=_MOHRSS,
        items=("职业技能等级证书查询、核验",),
        face_fields=(
            _f("certificate_no", "证书编号"),
            _NAME,
            _RIC,
            _f("occupation", "职业（工种）"),
            _f("level", "等级"),
            _f("evaluator", "评价机构"),
            _ISSUED,
        ),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("中国残疾人联合会", "001"),
        name="残疾人证",
        defining_body="中国残疾人联合会",
        items=(
            "残疾人证新办",
            "残疾人证换领",
            "残疾人证迁移",
            "残疾人证挂失补办",
            "残疾人证注销",
            "残疾类别/等级变更",
            # These check the card: the subsidy requires one, the employment quota counts them.
            "困难残疾人生活补贴和重度残疾人护理补贴资格认定",
            "全国残疾人按比例就业情况联网认证",
        ),
        face_fields=(
            _NAME,
            _f("sex", "性别"),
            _RIC,
            # 20 digits: the citizen ID, the disability category and the grade.
            _f("certificate_no", "残疾人证号"),
            _f("category", "残疾类别"),
            _f("grade", "残疾等级"),
            _ISSUER,
            _ISSUED,
            _f("valid_until", "有效期至", "date"),
        ),
        validity_years=10,  # 《中华人民共和国残疾人证管理办法》(2017): 有效期10年
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("国家药品监督管理局", "001"),
        name="执业药师注册证",
        defining_body="国家药品监督管理局",
        items=("执业药师注册", "执业药师延续注册", "执业药师变更注册", "执业药师注销注册"),
        face_fields=(
            _f("certificate_no", "注册证编号"),
            _NAME,
            _f("sex", "性别"),
            _RIC,
            _f("practice_category", "执业类别"),
            _f("practice_scope", "执业范围"),
            _f("practice_unit", "执业单位"),
            _f("practice_region", "执业地区"),
            _f("valid_until", "有效期至", "date"),
            _ISSUER,
            _ISSUED,
        ),
        validity_years=5,  # 《执业药师注册管理办法》: 注册有效期为五年
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("司法部", "001"),
        name="公证书",
        defining_body="司法部",
        items=("学历公证", "学位公证", "机动车驾驶证公证", "纳税状况公证"),
        face_fields=(
            _f("notarial_no", "公证书编号"),  # e.g. (2021)川成证字第123号
            _f("applicant", "申请人"),
            _f("applicant_id", "申请人证件号码", "holder_code"),
            _f("matter", "公证事项"),
            _f("notary_office", "公证机构"),
            _f("notary", "公证员"),
            _f("issued_on", "出具日期", "date"),
        ),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("公安部", "001"),
        name="无犯罪记录证明",
        defining_body="公安部",
        items=("开具有无犯罪记录证明",),
        face_fields=(
            _f("certificate_no", "证明编号"),
            _NAME,
            _RIC,
            _f("content", "证明内容"),
            _f("issuer", "开具单位"),
            _f("issued_on", "开具日期", "date"),
        ),
        validity_years=None,  # no statutory term; the relying party sets how recent it must be
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("公安部", "002"),
        name="户籍类证明",
        defining_body="公安部",
        items=("开具户籍类证明",),
        face_fields=(
            _f("certificate_no", "证明编号"),
            _NAME,
            _RIC,
            _f("matter", "证明事项"),
            _f("issuer", "开具单位"),
            _f("issued_on", "开具日期", "date"),
        ),
        validity_years=None,
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("生态环境部", "001"),
        name="排污许可证",
        defining_body="生态环境部",
        items=("排污许可",),
        face_fields=(
            _f("certificate_no", "证书编号"),
            _f("entity_name", "单位名称"),
            _f("uscc", "统一社会信用代码", "holder_code"),
            _f("registered_address", "注册地址"),
            _f("representative", "法定代表人（主要负责人）"),
            _f("site_address", "生产经营场所地址"),
            _f("industry", "行业类别"),
            _f("valid_from", "有效期限自", "date"),
            _f("valid_until", "有效期限至", "date"),
            _ISSUER,
            _ISSUED,
        ),
        validity_years=5,  # 《排污许可管理条例》第十四条: 有效期为5年
        holder_kind=HolderKind.USCC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("国家邮政局", "001"),
        name="快递业务经营许可证",
        defining_body="国家邮政局",
        items=("快递业务经营许可",),
        face_fields=(
            _f("certificate_no", "许可证编号"),
            _f("entity_name", "企业名称"),
            _f("uscc", "统一社会信用代码", "holder_code"),
            _f("representative", "法定代表人"),
            _f("address", "住所"),
            _f("business_scope", "业务范围"),
            _f("territory", "地域范围"),
            _f("valid_until", "有效期至", "date"),
            _ISSUER,
            _ISSUED,
        ),
        validity_years=5,  # 《快递业务经营许可管理办法》: 有效期为5年
        holder_kind=HolderKind.USCC,
        provisional=True,
    ),
    LicenseType(
        code=_demo("自然资源部", "001"),
        name="测绘作业证",
        defining_body="自然资源部",
        items=("测绘作业证办理",),
        face_fields=(
            _f("certificate_no", "证件编号"),
            _NAME,
            _RIC,
            _f("employer", "工作单位"),
            _ISSUER,
            _ISSUED,
        ),
        validity_years=3,  # 《测绘作业证管理规定》(2004): 注册核准有效期三年
        holder_kind=HolderKind.RIC,
        provisional=True,
    ),
)


def _index() -> tuple[Mapping[str, LicenseType], Mapping[str, tuple[LicenseType, ...]]]:
    by_code: dict[str, LicenseType] = {}
    by_item: dict[str, list[LicenseType]] = {}
    for license_type in _TYPES:
        if license_type.code in by_code:
            raise ValueError(f"type code {license_type.code} registered twice")
        by_code[license_type.code] = license_type
        for item in license_type.items:
            by_item.setdefault(item, []).append(license_type)
    return (
        MappingProxyType(by_code),
        MappingProxyType({item: tuple(types) for item, types in by_item.items()}),
    )


_BY_CODE, _BY_ITEM = _index()


def get_type(code: str) -> LicenseType:
    """The license type registered under ``code``; raises ``UnknownLicenseType``."""
    try:
        return _BY_CODE[code]
    except (KeyError, TypeError):
        raise UnknownLicenseType(code) from None


def types_for_item(national_name: str) -> tuple[LicenseType, ...]:
    """License types that the national item issues, changes, revokes or checks (maybe none)."""
    return _BY_ITEM.get(national_name, ())


def all_types() -> tuple[LicenseType, ...]:
    """Every registered type, in registry order."""
    return _TYPES
