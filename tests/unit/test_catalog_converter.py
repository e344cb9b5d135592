"""tools/convert_catalog.py: the committed data is exactly what the seeds produce."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = REPO_ROOT.parent / "shared" / "seeds"
COMMITTED = REPO_ROOT / "ledger" / "catalog_data"

needs_seeds = pytest.mark.skipif(
    not SEEDS.is_dir(), reason=f"seed documents not present at {SEEDS}"
)


def _load_converter() -> ModuleType:
    # tools/ is not a package; load the script by path so the test needs no sys.path tricks.
    path = REPO_ROOT / "tools" / "convert_catalog.py"
    spec = importlib.util.spec_from_file_location("convert_catalog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


convert = _load_converter()


@needs_seeds
def test_regenerated_files_equal_the_committed_ones(tmp_path: Path) -> None:
    written = convert.main(["--seeds", str(SEEDS), "--out", str(tmp_path)])
    assert written == 0
    for region in ("510000", "320000"):
        fresh = (tmp_path / f"{region}.json").read_bytes()
        committed = (COMMITTED / f"{region}.json").read_bytes()
        assert fresh == committed, f"{region}.json is stale: run tools/convert_catalog.py"


@needs_seeds
def test_output_is_deterministic_json(tmp_path: Path) -> None:
    first = convert.write_catalogs(SEEDS, tmp_path / "a")
    second = convert.write_catalogs(SEEDS, tmp_path / "b")
    for one, other in zip(first, second, strict=True):
        text = one.read_text(encoding="utf-8")
        assert text == other.read_text(encoding="utf-8")
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert '\n "items": [\n  {\n   "basis": ""' in text  # indent=1, sorted keys
        assert "\\u" not in text  # ensure_ascii=False


# --- cells ------------------------------------------------------------------------------------


def test_split_units_drops_wrap_spaces_and_the_lead_note() -> None:
    assert convert.split_units("省市场 监管局") == ["省市场监管局"]
    assert convert.split_units("司法厅、教育厅(排首位为牵头单位,下同)") == ["司法厅", "教育厅"]
    assert convert.split_units("省人力资源 社会保障厅") == ["省人力资源社会保障厅"]
    assert convert.split_units("") == []


def test_split_local_names() -> None:
    assert convert.split_local_names("出具《参保凭证》 转移接续手续办理") == [
        "出具《参保凭证》",
        "转移接续手续办理",
    ]
    assert convert.split_local_names("1.待遇发放关系转移；2.参保关系转移申请（个人）") == [
        "待遇发放关系转移",
        "参保关系转移申请（个人）",
    ]
    assert convert.split_local_names("企业设立、变更、注销登记") == ["企业设立、变更、注销登记"]


SICHUAN_SNIPPET = """\
### 一、2020年底前实现“跨省通办”的事项(58项)

序号\t事项名称(国家清单)\t责任单位\t对应我省事项名称\t办事场景\t办理方式
19\t技能人员职业资格证书查询、核验\t人力资源社会保障厅\t国家职业资格证书查询、核验\t场景\t通过专区查询、核验
\t\t人力资源社会保障厅\t专项职业能力证书查询、核验\t\t
"""

JIANGSU_SNIPPET = """\
## 一、2020年年底前实现“跨省通办”的事项（58项）

序号\t“跨省通办”事项\t应用场景\t牵头单位\t配合单位
\t55 执业药师注册\t场景。\t省药监局\t省人力资源 社会保障厅

### 三、2021年以后实现“跨省通办”的事项（8项）

序号\t“跨省通办” 事项\t应用场景\t牵头单位\t完成时限
7\t工伤职工异地就医结算\t场景。\t省人力资源和社会保障厅（配合单位：省医保局）\t
- 注：1. 省有关部门要按照国家部委的统一部署
"""


def test_parse_sichuan_continuation_row() -> None:
    (row,) = convert.parse_sichuan(SICHUAN_SNIPPET)
    assert (row.batch, row.seq) == (1, 19)
    assert row.local_names == ["国家职业资格证书查询、核验", "专项职业能力证书查询、核验"]
    assert row.units == ["人力资源社会保障厅"]


def test_parse_jiangsu_glued_seq_and_cooperating_unit_in_lead_cell() -> None:
    glued, lead_cell = convert.parse_jiangsu(JIANGSU_SNIPPET)
    assert (glued.batch, glued.seq, glued.national_name) == (1, 55, "执业药师注册")
    assert glued.units == ["省药监局", "省人力资源社会保障厅"]
    assert (lead_cell.batch, lead_cell.seq) == (3, 7)
    assert lead_cell.units == ["省人力资源和社会保障厅", "省医保局"]
    assert lead_cell.deadline_text == ""


def test_plan_headings_do_not_open_a_table() -> None:
    text = "### 一、总体要求\n\n1\t不是\t表格\n"
    assert convert.parse_sichuan(text) == []


def test_a_wrong_batch_count_in_the_heading_is_refused() -> None:
    with pytest.raises(ValueError, match="announces 57"):
        convert.parse_sichuan("### 一、2020年底前实现“跨省通办”的事项(57项)\n")


# --- classification ---------------------------------------------------------------------------


def test_online_proxy_and_direct_handling_texts() -> None:
    online = convert.classify_from_seed_text(
        "申请人可异地申请", "通过四川政务服务网“跨省通办”专区提交申请，全程网上办理", ""
    )
    assert (online.channels, online.status, online.source) == (("online",), "active", "seed_text")
    proxy = convert.classify_from_seed_text(
        "申请人可向转入地申请，转入地与转出地协同办理",
        "市、县两级政务服务大厅接收异地来件，“跨省通办”窗口分派本地有关部门办理",
        "",
    )
    assert (proxy.channels, proxy.coordination) == (("proxy",), "joint")
    direct = convert.classify_from_seed_text("场景", "在各地公证机构直接办理", "")
    assert direct.channels == ("direct",)


def test_status_rules() -> None:
    national = convert.classify_from_seed_text(
        "场景", "按照中国民航局要求办理，可通过民航行政审批服务平台网上提交申请", ""
    )
    assert national.status == "national_system"
    pending = convert.classify_from_seed_text(
        "场景", "在所在地婚姻登记机关办理", "待民政部统一部署后，逐步推开"
    )
    assert (pending.channels, pending.status) == (("direct",), "pending")
    verify = convert.classify_from_seed_text(
        "场景", "通过四川政务服务网“跨省通办”专区查询、核验", ""
    )
    assert verify.status == "verify"


def test_unreadable_handling_text_is_refused() -> None:
    with pytest.raises(ValueError, match="no channel rule"):
        convert.classify_from_seed_text("场景", "另行通知", "")


def test_scenario_only_classification_defaults_to_proxy() -> None:
    modes = convert.classify_from_scenario("社会保障卡补卡", "申请人可异地申请社会保障卡补卡。")
    assert (modes.channels, modes.coordination, modes.status, modes.source) == (
        ("proxy",),
        "single",
        "active",
        "scenario",
    )
    online = convert.classify_from_scenario("排污许可", "申请人可异地网上提交申请材料")
    assert online.channels == ("online",)


def test_joint_coordination_readings() -> None:
    assert convert.classify_coordination("迁入地和迁出地公安部门协同办理户口迁移") == "joint"
    assert convert.classify_coordination("可向购房地住房公积金管理中心提出申请，从缴存地…提取") == (
        "joint"
    )
    assert convert.classify_coordination("申请人可异地申请开具有无犯罪记录证明") == "single"


def test_normalized_name_ignores_width_and_spaces() -> None:
    assert convert.normalized_name("应届毕业生法律职业资格认定 (享受放宽条件政策的除外)") == (
        convert.normalized_name("应届毕业生法律职业资格认定(享受放宽条件政策的除外)")
    )
    assert convert.normalized_name("机关事业单位（含职业年金）") == "机关事业单位(含职业年金)"
