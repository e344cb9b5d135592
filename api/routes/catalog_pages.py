"""The public 跨省通办 catalog and service halls (no login): each region's 140 items with
batches, channels, responsible units and scenarios, each item's 办事指南 fields (a field
nobody published shows 未公布, never a guess), and the bodies' published hall information.

Server-rendered with the officers' layout (``api.page_parts.page``) and complete without
JavaScript: the filters are GET query parameters. The license check is
``api/routes/public_pages.py``.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from adapters.bootstrap import NodeServices
from api.deps import Services
from api.page_parts import CHANNEL_NAMES, page
from api.routes.public_pages import moment_text, problem_text
from ledger.catalog import REGION_NAMES, Catalog, CatalogItem, UnknownItem, UnknownRegion, regions
from ledger.keys.organizations import HallInfo

router = APIRouter(tags=["pages"])

CATALOG_PAGE = "/pages/catalog"
HALLS_PAGE = "/pages/halls"
NOT_PUBLISHED = "未公布"
CHANNEL_CHOICES = ("proxy", "online", "direct")
COORDINATION_NAMES = {"single": "单一部门办理", "joint": "多地联办"}
STATUS_NAMES = {"active": "办理", "verify": "核验"}
BATCH_NAMES = {1: "第一批", 2: "第二批", 3: "第三批"}


# -- the catalog -------------------------------------------------------------------------------


def _catalog(node: NodeServices, region: str) -> Catalog:
    """The version new cases of ``region`` pin now (a signed amendment wins over the package),
    as ``GET /catalog/{region}`` answers."""
    node.ledger.refresh_registry()
    return node.ledger.registry.catalogs.current(region, node.clock())


def _or_unpublished(value: str) -> str:
    if not value.strip():
        return f'<span class="unpublished">{NOT_PUBLISHED}</span>'
    return escape(value).replace("\n", "<br>")  # a procedure written line by line


def _channels(item: CatalogItem) -> str:
    return "、".join(escape(CHANNEL_NAMES.get(c, c)) for c in item.channels)


def _not_found(message: str) -> HTMLResponse:
    main = f'{problem_text(message)}<p><a href="{CATALOG_PAGE}">返回事项目录</a></p>'
    return page("未找到", main, public=True, status_code=404)


@router.get(CATALOG_PAGE, include_in_schema=False)
def catalog_regions(node: Services) -> HTMLResponse:
    """Every region with a catalog."""
    rows = []
    for code in regions():
        catalog = _catalog(node, code)
        batches = "，".join(
            f"{BATCH_NAMES[b]} {sum(1 for i in catalog.items if i.batch == b)} 项"
            for b in sorted({i.batch for i in catalog.items})
        )
        rows.append(
            f'<tr><td><a href="{CATALOG_PAGE}/{escape(code)}">'
            f"{escape(catalog.region_name)}</a></td>"
            f"<td>{escape(code)}</td><td>{len(catalog.items)}</td><td>{batches}</td></tr>"
        )
    main = f"""<p>各地区公布的跨省通办事项。
选择一个地区查看其事项、办理渠道、责任单位和办事指南。</p>
<table>
<caption>地区</caption>
<thead><tr><th scope="col">地区</th><th scope="col">行政区划代码</th><th scope="col">事项数</th>
<th scope="col">批次</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>"""
    return page("跨省通办事项目录", main, public=True)


def _select(name: str, label: str, chosen: str, options: list[tuple[str, str]]) -> str:
    shown = "".join(
        f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>'
        f"{escape(text)}</option>"
        for value, text in [("", "全部"), *options]
    )
    return (
        f'<div class="filter"><label for="{name}">{label}</label>'
        f'<select id="{name}" name="{name}">{shown}</select></div>'
    )


@router.get(CATALOG_PAGE + "/{region}", include_in_schema=False)
def catalog_items(
    region: str,
    node: Services,
    batch: str = "",
    sector: str = "",
    channel: str = "",
) -> HTMLResponse:
    """The region's items, narrowed by the filters (GET parameters; empty: all)."""
    try:
        catalog = _catalog(node, region)
    except UnknownRegion:
        return _not_found(f"没有地区 {region} 的事项目录。")
    sectors = sorted({item.sector for item in catalog.items})
    problems = []
    batch_number: int | None = None
    if batch:
        if batch not in ("1", "2", "3"):
            problems.append(f"批次（batch）只能是 1、2 或 3，收到的是“{batch[:20]}”。")
        else:
            batch_number = int(batch)
    if sector and sector not in sectors:
        problems.append(f"本目录没有行业（sector）“{sector[:40]}”。")
    if channel and channel not in CHANNEL_CHOICES:
        allowed = "、".join(CHANNEL_CHOICES)
        problems.append(f"办理渠道（channel）只能是 {allowed}，收到的是“{channel[:20]}”。")
    items: tuple[CatalogItem, ...] = ()
    if not problems:
        items = tuple(
            item
            for item in catalog.filter(batch=batch_number, channel=channel or None)
            if not sector or item.sector == sector
        )
    form = f"""<form method="get" action="{CATALOG_PAGE}/{escape(region)}" class="filters"
 aria-label="筛选事项">
{_select("batch", "批次", batch, [(str(b), BATCH_NAMES[b]) for b in sorted(BATCH_NAMES)])}
{_select("sector", "行业", sector, [(s, s) for s in sectors])}
{_select("channel", "办理渠道", channel, [(c, CHANNEL_NAMES[c]) for c in CHANNEL_CHOICES])}
<button type="submit">筛选</button>
</form>"""
    rows = "\n".join(
        "<tr>"
        f'<td><a href="{CATALOG_PAGE}/{escape(region)}/{item.batch}/{item.seq}">'
        f"{escape(item.national_name)}</a></td>"
        f"<td>{BATCH_NAMES.get(item.batch, str(item.batch))}第 {item.seq} 项</td>"
        f"<td>{_channels(item)}</td>"
        f"<td>{escape(item.lead_unit)}"
        + (f"<br>配合：{escape('、'.join(item.cooperating_units))}" * bool(item.cooperating_units))
        + f"</td><td>{escape(item.sector)}</td>"
        f"<td>{_or_unpublished(item.scenario)}</td>"
        "</tr>"
        for item in items
    )
    filters = {k: v for k, v in (("batch", batch), ("sector", sector), ("channel", channel)) if v}
    shown = (
        "".join(problem_text(p) for p in problems)
        if problems
        else f'<p id="count" role="status">共 {len(items)} 项'
        + ("（已筛选）" if filters else f"（全部 {len(catalog.items)} 项）")
        + "。</p>"
    )
    table = (
        f"""<table>
<caption>{escape(catalog.region_name)}跨省通办事项</caption>
<thead><tr><th scope="col">事项名称</th><th scope="col">批次</th><th scope="col">办理渠道</th>
<th scope="col">责任单位</th><th scope="col">行业</th><th scope="col">办理场景</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>"""
        if items
        else ""
    )
    reset = f'<p><a href="{CATALOG_PAGE}/{escape(region)}">清除筛选</a></p>' if filters else ""
    main = f"""<p>目录版本 <code>{escape(catalog.version[:16])}</code>。
<a href="{CATALOG_PAGE}">其他地区</a>
<a href="{HALLS_PAGE}/{escape(region)}">服务大厅（地址、办公时间、办事须知）</a></p>
{form}
{reset}
{shown}
{table}"""
    return page(f"{catalog.region_name}跨省通办事项目录", main, public=True)


#: 办事指南 fields (the work plan's unified list, §二(一)) and the catalog field that publishes
#: each (set by signed catalog amendments; a field nobody published shows 未公布).
GUIDE_LABELS: tuple[tuple[str, str], ...] = (
    ("申请条件", "conditions"),
    ("申报方式", "filing_methods"),
    ("受理模式", "acceptance_mode"),
    ("审核程序", "review_procedure"),
    ("办理时限", "time_limit"),
    ("发证方式", "issuing_mode"),
    ("收费标准", "fee"),
)


@router.get(CATALOG_PAGE + "/{region}/{batch}/{seq}", include_in_schema=False)
def catalog_item(region: str, batch: str, seq: str, node: Services) -> HTMLResponse:
    """One item with its 办事指南 fields; a field nobody published shows 未公布."""
    if not (batch.isascii() and batch.isdigit() and seq.isascii() and seq.isdigit()):
        return _not_found("事项编号应为“批次/序号”两个数字。")
    try:
        item = _catalog(node, region).item(int(batch), int(seq))
    except (UnknownRegion, UnknownItem):
        return _not_found(f"没有事项 {region}/{batch}/{seq}。")
    guide = "".join(
        f"<dt>{label}</dt><dd>{_or_unpublished(getattr(item, name))}</dd>"
        for label, name in GUIDE_LABELS
    )
    local = "；".join(item.local_names)
    cooperating = "、".join(item.cooperating_units)
    main = f"""<p><a href="{CATALOG_PAGE}/{escape(region)}">返回本地区事项目录</a></p>
<section aria-labelledby="item-heading">
<h2 id="item-heading">事项信息</h2>
<dl class="facts">
<dt>事项编号</dt><dd>{escape(item.item_key)}</dd>
<dt>批次</dt><dd>{BATCH_NAMES.get(item.batch, str(item.batch))}第 {item.seq} 项</dd>
<dt>本地事项名称</dt><dd>{escape(local)}</dd>
<dt>牵头单位</dt><dd>{escape(item.lead_unit)}</dd>
<dt>配合单位</dt><dd>{_or_unpublished(cooperating)}</dd>
<dt>行业</dt><dd>{escape(item.sector)}</dd>
<dt>办理渠道</dt><dd>{_channels(item)}</dd>
<dt>协同方式</dt><dd>{escape(COORDINATION_NAMES.get(item.coordination, item.coordination))}</dd>
<dt>事项性质</dt><dd>{escape(STATUS_NAMES.get(item.status, item.status))}</dd>
<dt>办理场景</dt><dd>{_or_unpublished(item.scenario)}</dd>
<dt>办理方式（省级目录原文）</dt><dd>{_or_unpublished(item.handling_text)}</dd>
<dt>完成时限（省级目录原文）</dt><dd>{_or_unpublished(item.deadline_text)}</dd>
</dl>
</section>
<section aria-labelledby="guide-heading">
<h2 id="guide-heading">办事指南</h2>
<p>以下各项以发布机关公布的内容为准；“{NOT_PUBLISHED}”表示尚无人公布，本页不作推测。</p>
<dl class="facts" id="guide">
{guide}
<dt>事项编码</dt><dd>{_or_unpublished(item.item_code)}</dd>
<dt>设定依据</dt><dd>{_or_unpublished(item.basis)}</dd>
<dt>事项类型</dt><dd>{_or_unpublished(item.item_type)}</dd>
</dl>
</section>
<p><a href="{HALLS_PAGE}/{escape(region)}">本地区服务大厅的地址、办公时间和办事须知</a></p>"""
    return page(item.national_name, main, public=True)


#: A hall's fields as the page names them (``hall_published``, docs/keys.md §3).
HALL_LABELS: tuple[tuple[str, str], ...] = (
    ("地址", "address"),
    ("办公时间", "hours"),
    ("咨询电话", "phone"),
    ("预约方式", "appointment"),
    ("办事须知", "notice"),
)


def _hall_facts(hall: HallInfo) -> str:
    return "".join(
        f"<dt>{label}</dt><dd>{_or_unpublished(getattr(hall, name))}</dd>"
        for label, name in HALL_LABELS
    )


@router.get(HALLS_PAGE + "/{region}", include_in_schema=False)
def halls(region: str, node: Services) -> HTMLResponse:
    """The region's bodies that published their hall information (a signed
    ``hall_published`` record each); a field left empty shows 未公布."""
    if region not in REGION_NAMES:
        return _not_found(f"没有地区 {region} 的事项目录。")
    node.ledger.refresh_registry()
    registry = node.ledger.registry
    bodies = sorted(
        (b for b in registry.bodies.values() if b.region == region), key=lambda b: b.body_id
    )
    published = [(b, registry.halls[b.body_id]) for b in bodies if b.body_id in registry.halls]
    sections = "".join(
        f"""<section aria-labelledby="hall-{escape(b.body_id)}">
<h2 id="hall-{escape(b.body_id)}">{escape(b.name)}</h2>
<dl class="facts hall">
<dt>部门编号</dt><dd>{escape(b.body_id)}</dd>
{_hall_facts(hall)}
<dt>公布时间</dt><dd>{moment_text(hall.published_at)}（北京时间）</dd>
</dl>
</section>"""
        for b, hall in published
    )
    rest = len(bodies) - len(published)
    main = f"""<p><a href="{CATALOG_PAGE}/{escape(region)}">返回本地区事项目录</a></p>
<p>以下信息由各部门或本地区根密钥签名公布，记入办件台账；“{NOT_PUBLISHED}”表示尚无人公布。</p>
{sections or "<p>本地区尚无部门公布服务大厅信息。</p>"}
{f"<p>另有 {rest} 个部门尚未公布服务大厅信息。</p>" if published and rest else ""}"""
    return page(f"{REGION_NAMES[region]}服务大厅", main, public=True)
