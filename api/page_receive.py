"""The 收件 page's form, with the item chosen from the catalogs new cases pin.

``GET /pages/receive`` serves it; ``api/static/receive.js`` fills, checks and signs it. The item
is chosen from the catalogs new cases pin now — this node's region's and those of the
regions it relays to — among the items the officer's body may receive, with the channels it may
receive each through (``ledger.workflow.entitlement.receivable_channels``); the home body and
origin bodies suggested from the signed organization registry; as many materials as the node's
request limit lets one step carry.

The chooser is a labelled list box (``<select size>``: arrow keys, type-ahead, no mouse needed)
that a short script narrows by text and batch; the item's facts are in each option's data
attributes, the bodies in a hidden list the script reads. Every value is escaped here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

from adapters.bootstrap import NodeServices
from adapters.relay_peers import load_peers
from ledger.catalog import Catalog, CatalogItem, UnknownRegion
from ledger.envelope import ledger_region
from ledger.keys.organizations import BodyView
from ledger.workflow.entitlement import receivable_channels

CHANNEL_LABELS = {"proxy": "窗口代收（跨省通办）", "online": "网上申请", "direct": "现场申请"}
COORDINATION_LABELS = {"single": "一地办理", "joint": "多地联办"}
BATCH_LABELS = {1: "第一批", 2: "第二批", 3: "第三批"}
MATERIAL_NAME_LIMIT = 200  # characters of one material's name
# One material in the draft's JSON at most: the name in UTF-8, the digest as {"bin": hex}, keys.
_MATERIAL_BYTES = MATERIAL_NAME_LIMIT * 3 + 100
_REST_BYTES = 4096  # the rest of the draft: item, applicant's commitments, bodies, code
HOME_HINT = (
    "可从建议中选择所选事项所在省份、对应职能的办理部门；网上申请、现场申请由受理部门自己收件。"
)
MATERIALS_CAP = 50  # however large the node's limit, a page of more rows helps nobody


def materials_limit(max_body_bytes: int) -> int:
    """How many materials one 收件 may list: the workflow sets no limit, the node's request
    limit does (the draft and the signed step each carry every material)."""
    return max(1, min(MATERIALS_CAP, (max_body_bytes - _REST_BYTES) // _MATERIAL_BYTES))


@dataclass(frozen=True)
class Receivable:
    item: CatalogItem
    channels: tuple[str, ...]  # the channels the body may receive it through


def _catalogs(node: NodeServices) -> Iterator[Catalog]:
    """The catalogs new cases pin now: this node's region's, then those of the regions it
    relays to (``peers.json``), as ``GET /catalog/{region}`` serves them."""
    regions = [ledger_region(node.ledger.ledger_name)]
    if node.relays is not None:
        regions += [ledger_region(ledger) for ledger in sorted(load_peers(node.settings.data_dir))]
    now = node.clock()
    for region in dict.fromkeys(r for r in regions if r):
        try:
            yield node.ledger.registry.catalogs.current(region, now)
        except UnknownRegion:
            continue  # a peer region whose catalog this node does not hold


def receivable(
    node: NodeServices, body_id: str
) -> tuple[list[tuple[Catalog, list[Receivable]]], int]:
    """Per catalog, the items ``body_id`` may receive; and how many items it may not."""
    node.ledger.refresh_registry()
    body = node.ledger.registry.body_view(body_id)
    found, others = [], 0
    for catalog in _catalogs(node):
        items = []
        for item in catalog.items:
            channels = receivable_channels(body, item) if body is not None else ()
            if channels:
                items.append(Receivable(item, channels))
            else:
                others += 1
        found.append((catalog, items))
    return found, others


def _option(entry: Receivable) -> str:
    item = entry.item
    sectors = "|".join(dict.fromkeys((item.sector, *item.cooperating_sectors)))
    search = " ".join(
        (item.national_name, *item.local_names, item.lead_unit, *item.cooperating_units)
    )
    channels = "、".join(CHANNEL_LABELS[c] for c in entry.channels)
    label = (
        f"{item.national_name} · {item.lead_unit} · {channels} · "
        f"{COORDINATION_LABELS.get(item.coordination, item.coordination)}（{item.item_key}）"
    )
    return (
        f'<option value="{escape(item.item_key)}" data-region="{escape(item.region)}" '
        f'data-batch="{item.batch}" data-channels="{escape(" ".join(entry.channels))}" '
        f'data-coordination="{escape(item.coordination)}" data-sectors="{escape(sectors)}" '
        f'data-name="{escape(item.national_name)}" data-unit="{escape(item.lead_unit)}" '
        f'data-cooperating="{escape("、".join(item.cooperating_units))}" '
        f'data-search="{escape(f"{search} {item.item_key}".lower())}">{escape(label)}</option>'
    )


def _known_bodies(node: NodeServices) -> str:
    """The registry's handler bodies, for the home and origin suggestions (hidden)."""
    registry = node.ledger.registry
    views = [registry.body_view(body_id) for body_id in sorted(registry.bodies)]
    rows = "".join(
        f'<li data-id="{escape(v.body_id)}" data-region="{escape(v.region)}" '
        f'data-sector="{escape(v.sector)}" data-level="{escape(v.level)}" '
        f'data-division="{escape(v.division)}">'
        f"{escape(registry.bodies[v.body_id].name)}</li>"
        for v in views
        if isinstance(v, BodyView) and "handler" in v.roles
    )
    return f'<ul id="known-bodies" hidden>{rows}</ul>'


def _chooser(node: NodeServices, body_id: str) -> str:
    catalogs, others = receivable(node, body_id)
    count = sum(len(items) for _, items in catalogs)
    groups = "".join(
        f'<optgroup label="{escape(catalog.region_name)}（{escape(catalog.region)}）">'
        + "".join(_option(entry) for entry in items)
        + "</optgroup>"
        for catalog, items in catalogs
        if items
    )
    batches = "".join(f'<option value="{n}">{label}</option>' for n, label in BATCH_LABELS.items())
    links = "、".join(
        f'<a href="/pages/catalog/{escape(catalog.region)}">'
        f"{escape(catalog.region_name)}事项目录</a>"
        for catalog, _ in catalogs
    )
    hint = (
        f"本部门可收件的事项共 {count} 项，每项列出名称、牵头单位、本部门可用的渠道和办理方式；"
        f"另有 {others} 项因尚未开通（待统一部署、在国家系统办理、证照核验）"
        f"或渠道、部门职能不符，不能由本部门收件（见{links}）。"
    )
    return f"""<div class="filters">
<div class="filter"><label for="item-filter">按名称、部门或编码筛选</label>
<input type="search" id="item-filter" aria-controls="item" autocomplete="off"></div>
<div class="filter"><label for="item-batch">批次</label>
<select id="item-batch" aria-controls="item"><option value="">全部批次</option>{batches}</select>
</div>
</div>
<label for="item">事项（用上下方向键选择；列出本部门可以收件的事项）</label>
<select id="item" size="10" required aria-describedby="item-hint item-count">{groups}</select>
<p id="item-hint" class="hint">{hint}</p>
<p id="item-count" class="hint" aria-live="polite"></p>
<dl id="item-chosen" class="facts" hidden></dl>"""


def _material_row(n: int) -> str:
    need = " required" if n == 1 else ""
    return f"""<div class="material">
<label for="material-name-{n}">材料名称 {n}</label>
<input type="text" id="material-name-{n}" maxlength="{MATERIAL_NAME_LIMIT}"{need}>
<label for="material-file-{n}">材料文件 {n}（在本机计算 SHA-256，文件不上传）</label>
<input type="file" id="material-file-{n}"{need}>
</div>"""


def receive_form(node: NodeServices, body_id: str) -> str:
    """The page's main content: the form, the confirmation box and the status line."""
    limit = materials_limit(node.settings.max_body_bytes)
    kib = node.settings.max_body_bytes // 1024
    rows = "\n".join(_material_row(n) for n in range(1, min(3, limit) + 1))
    materials_hint = (
        f"工作流不限材料份数；本节点一次请求至多 {kib} KiB，"
        f"本页一次收件最多 {limit} 份材料（每份名称至多 {MATERIAL_NAME_LIMIT} 字）。"
    )
    return f"""
<form id="receive" class="stack" data-body="{escape(body_id)}">
<h2>事项</h2>
{_chooser(node, body_id)}
<label for="channel">办理渠道（所选事项本部门可用的渠道）</label>
<select id="channel" required><option value="">请先选择事项</option></select>
<label for="home-body">受理部门编号（作出决定的部门）</label>
<input type="text" id="home-body" required list="home-bodies" autocomplete="off"
 aria-describedby="home-hint" pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{{0,63}}">
<datalist id="home-bodies"></datalist>
<p id="home-hint" class="hint">{HOME_HINT}</p>
<label for="jurisdiction">管辖区划代码（6 位）</label>
<input type="text" id="jurisdiction" required pattern="[1-9][0-9]{{5}}" inputmode="numeric">
<fieldset id="origins" hidden>
<legend>协同办理部门（多地联办事项：至少一个，各自出具协同办理意见）</legend>
<div id="origin-choices"></div>
<label for="origin-others">其他协同办理部门编号（每行一个，可选）</label>
<textarea id="origin-others" rows="2" autocomplete="off"></textarea>
</fieldset>
{_known_bodies(node)}
<h2>申请人（存入本节点的个人信息库，台账中只记录引用和承诺值）</h2>
<label for="applicant-name">姓名</label>
<input type="text" id="applicant-name" required maxlength="64" autocomplete="off">
<label for="applicant-id">身份证号</label>
<input type="text" id="applicant-id" required maxlength="32" autocomplete="off">
<label for="applicant-phone">电话（可选）</label>
<input type="tel" id="applicant-phone" maxlength="32" autocomplete="off">
<label for="applicant-address">地址（可选）</label>
<input type="text" id="applicant-address" maxlength="256" autocomplete="off">
<h2>材料</h2>
<p id="materials-hint" class="hint">{materials_hint}</p>
<div id="materials" class="stack" data-limit="{limit}">
{rows}
</div>
<button type="button" id="add-material">再添加一份材料</button>
<button type="submit">填写完毕，核对内容</button>
</form>
<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并签名</h2>
<p id="item-facts"></p>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<button type="button" id="sign">确认无误，签名并收件</button>
<button type="button" id="cancel">返回修改</button>
</section>
<p id="case-status" role="alert" aria-live="assertive"></p>
<p hidden><a id="open-case" href="/pages/worklist">打开案件</a></p>
"""
