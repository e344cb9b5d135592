"""The auditors' pages (docs/pages.md, "The auditors' pages"): the whole-ledger audit with its
progress and findings (``/pages/audit``), and a case's timeline with every check
(``/pages/audit/cases/{case_id}``). They render what the audit routes answer
(``api/routes/audit.py``: ``POST /audit/verify``, ``GET /audit/jobs/{id}``,
``GET /audit/cases/{id}``), for an auditor's or the administrator's token session; the
checkpoints, body reports and access log are in ``audit_record_pages.py``.

Starting an audit changes nothing stored, but it is a request other than GET, so it carries the
session's CSRF token, which only the page's script holds (``api/static/audit.js`` posts to
``POST /audit/verify``); a form posted without it gets a 403 page saying so. The progress
reads without JavaScript (a link reloads it); with it, the script polls the job's route.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from adapters.access import Principal
from api.deps import CSRF_HEADER, Services
from api.errors import ApiProblem
from api.page_audit import (
    ACCESS_PAGE,
    CASE_AUDIT_PAGE,
    FINDING_KINDS,
    RESOLUTIONS,
    FindingPlaces,
    audit_frame,
    auditor_or_refusal,
    iso_in_china,
    parsed_case_id,
    problem_page,
    reason_text,
)
from api.page_parts import AUDIT_PAGE, CHANNEL_NAMES, STATE_NAMES, page, step_name
from api.routes.audit import audit_case, job_status, recent_jobs, start_verify
from api.schemas import FindingPublic, JobPublic
from ledger.errors import UnknownCase
from ledger.opening import APPLICANT_REASONS
from ledger.reports import CaseTimeline, TimelineStep, case_timeline

router = APIRouter(tags=["pages"])
JOB_ID = re.compile(r"[0-9a-f]{32}")  # audit.Job ids: uuid4().hex
SHOWN = 200  # findings listed per kind (the rest: GET /audit/jobs/{id})

# The checks the audit runs on each stored step, in its order (docs/audit.md, "Cases, row by
# row"), with the reasons that say each failed.
HASH = "哈希"
LINK = "链接与序号"
KEY = "密钥（收件时有效、经认证）"
SIGNATURE = "签名"
WORKFLOW = "流程规则与字段（含个人信息筛查）"
APPLICANT = "申请人记录"
KEY_REASONS = frozenset(
    {"unknown_key", "key_not_valid_at_time", "key_revoked", "uncertified_officer"}
)
CHECKS: tuple[tuple[str, frozenset[str]], ...] = (
    ("存储与格式", frozenset({"malformed", "unsupported_suite"})),
    (HASH, frozenset({"bad_hash"})),
    (LINK, frozenset({"broken_link", "seq_gap"})),
    ("回执与台账序号", frozenset({"index_gap", "bad_receipt"})),
    (KEY, KEY_REASONS),
    (SIGNATURE, frozenset({"bad_signature"})),
    (WORKFLOW, frozenset({"illegal_step"})),
)
APPLICANT_CHECK = (APPLICANT, frozenset(APPLICANT_REASONS))  # the `received` step's only
# Once the key fails (integrity), the audit checks neither signature nor step (docs/audit.md).
AFTER_THE_KEY = frozenset({SIGNATURE, WORKFLOW, APPLICANT})


# -- the whole-ledger audit ---------------------------------------------------------------------


# Chinese sentences are joined without a line break: a break in the HTML shows as a space.
START_TEXT = (
    "从节点保存的原始字节重新核验每个对象：哈希、链接、台账序号、回执、签名、"
    "密钥在收件时是否有效、流程规则与字段，以及检查点（docs/audit.md）。"
    "同一时间只运行一次审计：审计进行中再次启动，即查看该次审计。"
)


def _start_form() -> str:
    return f"""<section aria-labelledby="start-heading">
<h2 id="start-heading">审计整个台账</h2>
<form id="start-audit" method="post" action="/pages/audit" class="stack">
<p>{START_TEXT}</p>
<button type="submit">开始审计</button>
<p id="start-status" role="alert" aria-live="assertive"></p>
</form>
</section>
<section aria-labelledby="case-heading">
<h2 id="case-heading">核验单个案件</h2>
<form method="get" action="/pages/audit/cases" class="stack">
<label for="case-id">案件编号</label>
<input id="case-id" name="case" type="text" required autocomplete="off"
 pattern="[0-9A-Fa-f\\-]{{32,36}}" size="36">
<button type="submit">查看案件的核验结果</button>
</form>
</section>"""


def _jobs_table(jobs: list[JobPublic]) -> str:
    if not jobs:
        return '<p id="recent-jobs">本进程尚未运行过审计。</p>'
    rows = []
    for job in jobs:
        if job.report is None:
            outcome = "进行中" if job.status == "running" else "未能完成"
        elif job.report.ok:
            outcome = "未发现问题"
        else:
            outcome = f"发现 {len(job.report.findings)} 个问题"
        rows.append(
            f'<tr><td><a href="{AUDIT_PAGE}?job={escape(job.job_id)}">{escape(job.job_id)}</a>'
            f"</td><td>{escape(outcome)}</td></tr>"
        )
    return f"""<table id="recent-jobs">
<caption>最近的审计（本进程保存最近 20 次，节点重启后清空）</caption>
<thead><tr><th scope="col">审计任务</th><th scope="col">结果</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>"""


def _findings_table(
    ident: str, kind: str, findings: list[FindingPublic], places: FindingPlaces, job_id: str
) -> str:
    title = FINDING_KINDS[kind]
    if not findings:
        return f'<h3 id="{ident}-heading">{title}</h3><p id="{ident}">无。</p>'
    policy = kind == "policy"
    rows = "".join(
        "<tr>"
        f"<td>{places.html(f.case_id, f.seq)}</td><td>{reason_text(f.reason)}</td>"
        f"<td>{escape(f.detail)}</td>"
        + (f"<td>{escape(RESOLUTIONS.get(f.resolution or '', '未处理'))}</td>" if policy else "")
        + "</tr>"
        for f in findings[:SHOWN]
    )
    more = (
        f"<p>另有 {len(findings) - SHOWN} 个未列出，"
        f"见 <code>GET /audit/jobs/{escape(job_id)}</code>。</p>"
        if len(findings) > SHOWN
        else ""
    )
    resolution = '<th scope="col">处理结果</th>' if policy else ""
    what = (
        "有效签名，但密钥事后被吊销，或申请人记录不合开案规则；可由区域根密钥签署记录追认或否认"
        if policy
        else "存储的字节有误或缺失，或对象在当时即违反规则；只能通过恢复数据纠正"
    )
    return f"""<h3 id="{ident}-heading">{title}（{len(findings)} 个）</h3>
<p>{what}。</p>
<table id="{ident}">
<caption>{title}：位置（链接到案件该步骤）、问题、说明</caption>
<thead><tr><th scope="col">位置</th><th scope="col">问题</th><th scope="col">说明</th>
{resolution}</tr></thead>
<tbody>{rows}</tbody></table>{more}"""


def _job_section(job: JobPublic, places: FindingPlaces) -> str:
    here = f"{AUDIT_PAGE}?job={escape(job.job_id)}"
    if job.status == "running":
        total = max(job.total, job.checked, 1)
        return f"""<section id="audit-job" data-job="{escape(job.job_id)}" data-status="running"
 aria-labelledby="job-heading">
<h2 id="job-heading">审计进行中</h2>
<p id="job-progress-text" role="status">已核验 {job.checked} 个案件对象，台账开始审计时共有
{job.total} 个对象（含密钥登记记录）。</p>
<progress id="job-progress" max="{total}" value="{job.checked}" aria-label="审计进度"></progress>
<p><a href="{here}" id="job-refresh">刷新查看进度</a>（启用 JavaScript 时本页自动更新。）</p>
</section>"""
    if job.report is None:
        return f"""<section id="audit-job" data-status="{escape(job.status)}">
<h2>审计未能完成</h2>
<p class="error" role="alert">{escape(job.error or "")}</p></section>"""
    report = job.report
    integrity = [f for f in report.findings if f.kind == "integrity"]
    policy = [f for f in report.findings if f.kind != "integrity"]
    open_policy = [f for f in policy if f.resolution is None]
    verdict = (
        '<p class="verdict valid" id="verdict">未发现问题</p>'
        if report.ok
        else f'<p class="verdict invalid" id="verdict">发现 {len(integrity)} 个完整性问题、'
        f"{len(open_policy)} 个未处理的合规问题</p>"
    )
    return f"""<section id="audit-job" data-job="{escape(job.job_id)}" data-status="done"
 aria-labelledby="job-heading">
<h2 id="job-heading">审计结果</h2>
{verdict}
<p>审计任务 {escape(job.job_id)}：核验了 {report.events} 个案件步骤，{report.cases} 个案件。</p>
{_findings_table("integrity", "integrity", integrity, places, job.job_id)}
{_findings_table("policy", "policy", policy, places, job.job_id)}
</section>"""


@router.get(AUDIT_PAGE, include_in_schema=False, response_model=None)
def audit_page(request: Request, node: Services, job: str | None = None) -> Response:
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    if job is None:
        main = _start_form() + f"<h2>最近的审计</h2>{_jobs_table(recent_jobs(request, caller))}"
        return audit_frame("审计", main, caller, scripts=("audit.js",))
    if not JOB_ID.fullmatch(job):
        return problem_page(
            caller,
            422,
            "审计任务编号有误",
            f"审计任务编号（job）应为 32 位小写十六进制数字，收到“{job[:80]}”。",
        )
    try:
        found = job_status(job, request, caller)
    except ApiProblem as problem:
        if problem.status != 404:
            raise
        return problem_page(
            caller,
            404,
            "未找到审计任务",
            f"本节点进程中没有审计任务 {job}：任务只保存在启动它的进程中（最近 20 次），"
            "节点重启后即不存在。",
        )
    main = _job_section(found, FindingPlaces(node)) + (
        f'<p><a href="{AUDIT_PAGE}">返回审计页面</a></p>'
    )
    return audit_frame("审计", main, caller, scripts=("audit.js",))


@router.post(AUDIT_PAGE, include_in_schema=False, response_model=None)
def start_audit(request: Request, node: Services) -> Response:
    """The form's own post: with the session's CSRF token (a script sends it as the header)
    it starts or joins the audit as ``POST /audit/verify`` does and shows it (303); without
    (no JavaScript: only the page's script holds the token) a 403 page says so."""
    try:
        caller = auditor_or_refusal(request, node)
    except ApiProblem as problem:
        if problem.status != 403 or problem.field != CSRF_HEADER:
            raise
        main = (
            '<p class="error" role="alert" id="page-error">开始审计需附带本次会话的'
            "防跨站令牌（CSRF），它只保存在浏览器中、由页面脚本发送：请启用 JavaScript 后"
            "在审计页面点击“开始审计”。</p>"
            f'<p><a href="{AUDIT_PAGE}">返回审计页面</a></p>'
        )
        return page("无法开始审计", main, scripts=("session.js",), status_code=403)
    if not isinstance(caller, Principal):
        return caller
    started = start_verify(request, node, caller)
    return RedirectResponse(f"{AUDIT_PAGE}?job={started.job_id}", status_code=303)


# -- a case's timeline with every check ---------------------------------------------------------


@dataclass(frozen=True)
class StepContext:
    """What the audit knew when it reached a step (docs/audit.md, "Cases, row by row")."""

    readable: (
        bool  # its stored bytes were read (a missing or unreadable step is checked no further)
    )
    after_unread: bool  # the step before is missing or unreadable: no hash to link to
    replay_stopped: bool  # a step before is missing or unreadable: the workflow replays no more


def _not_run(name: str, found: list[FindingPublic], context: StepContext) -> str | None:
    """Why the audit did not run check ``name`` on this step, or None when it ran it."""
    reasons = {f.reason for f in found}
    key_failed = any(f.reason in KEY_REASONS and f.kind == "integrity" for f in found)
    relocated = any(f.reason == "broken_link" and f.detail.startswith("stored at") for f in found)
    if not context.readable:
        return "该步骤缺失或不可读"
    if name == HASH and relocated:
        return "步骤存放的位置与其签名的不符"
    if name == LINK and "bad_hash" in reasons:
        return "哈希不符，不再比较链接"
    if name == LINK and context.after_unread:
        return "前一步骤缺失或不可读"
    if name in AFTER_THE_KEY and key_failed:
        return "密钥未通过"
    if name == WORKFLOW and context.replay_stopped:
        return "前面的步骤缺失或不可读，未重放"
    return None


def _check_items(seq: int, found: list[FindingPublic], context: StepContext) -> tuple[str, bool]:
    """Each check of the step at ``seq``: passed, failed (reason, detail, kind), or not run;
    and whether any was not run."""
    checks = [*CHECKS, APPLICANT_CHECK] if seq == 1 else list(CHECKS)
    items = []
    for name, failing in checks:
        failed = [f for f in found if f.reason in failing]
        why = _not_run(name, found, context)
        if failed:
            said = "；".join(
                f"{reason_text(f.reason)} {escape(f.detail)}"
                + (
                    f"（{FINDING_KINDS['policy']}，"
                    f"{escape(RESOLUTIONS.get(f.resolution or '', '未处理'))}）"
                    if f.kind == "policy"
                    else ""
                )
                for f in failed
            )
            items.append(f'<li class="fail"><strong>{name}：未通过</strong> {said}</li>')
        elif why is not None:
            items.append(f'<li class="not-run">{name}：未核验（{why}）</li>')
        else:
            items.append(f'<li class="pass">{name}：通过</li>')
    skipped = any('class="not-run"' in item for item in items)
    return f'<ul class="checks">{"".join(items)}</ul>', skipped


def _step_cells(step: TimelineStep | None) -> str:
    if step is None:
        return '<td colspan="4">（该步骤缺失或无法读取）</td>'
    body = escape(step.body.body_id) + (f"<br>{escape(step.body.name)}" if step.body.name else "")
    return (
        f"<td>{escape(step_name(step.step))}<br><code>{escape(step.step)}</code></td>"
        f"<td>{body}</td><td>{escape(step.officer_id)}</td>"
        f'<td class="time">回执 {escape(iso_in_china(step.received_at))}<br>'
        f"签署 {escape(iso_in_china(step.claimed_at))}</td>"
    )


def _timeline_table(story: CaseTimeline, findings: list[FindingPublic]) -> str:
    at_seq: dict[int, list[FindingPublic]] = defaultdict(list)
    for finding in findings:
        at_seq[finding.seq].append(finding)
    steps = {s.seq: s for s in story.steps}
    rows = []
    replay_stopped = False
    for seq in sorted(set(steps) | {s for s in at_seq if s > 0}):
        found = at_seq.get(seq, [])
        context = StepContext(
            readable=seq in steps,
            after_unread=seq > 1 and seq - 1 not in steps,
            replay_stopped=replay_stopped,
        )
        checks, skipped = _check_items(seq, found, context)
        if found:
            verdict = '<strong class="flag">有问题</strong>'
        else:
            verdict = "未发现问题（部分项目未核验）" if skipped else "全部通过"
        marked = ' class="flagged"' if found else ""
        rows.append(
            f'<tr id="seq-{seq}"{marked}>'
            f'<th scope="row">{seq}</th>{_step_cells(steps.get(seq))}'
            f"<td>{verdict}{checks}</td></tr>"
        )
        replay_stopped = replay_stopped or not context.readable
    return f"""<table id="timeline" class="timeline">
<caption>每一步的签署人、部门、时间和每一项核验的结果（有问题的步骤已标出）</caption>
<thead><tr><th scope="col">序号</th><th scope="col">步骤</th><th scope="col">部门</th>
<th scope="col">工作人员</th><th scope="col">时间（北京时间）</th>
<th scope="col">核验</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>"""


def _case_facts(story: CaseTimeline) -> str:
    window = ""
    if story.window_body is not None:
        named = f"{story.window_body.body_id} {story.window_body.name}"
        window = f"<dt>收件窗口</dt><dd>{escape(named)}</dd>"
    origins = "、".join(escape(b.body_id) for b in story.origin_bodies)
    return f"""<dl class="facts">
<dt>案件编号</dt><dd>{escape(story.case_id)}</dd>
<dt>事项</dt><dd>{escape(story.item_key)} {escape(story.item_name)}</dd>
<dt>状态</dt><dd>{escape(STATE_NAMES.get(story.state, story.state))}</dd>
<dt>渠道</dt><dd>{escape(CHANNEL_NAMES.get(story.channel, story.channel))}</dd>
<dt>受理部门</dt><dd>{escape(story.home_body.body_id)} {escape(story.home_body.name)}</dd>
{window}{f"<dt>协同部门</dt><dd>{origins}</dd>" if origins else ""}
</dl>"""


@router.get(CASE_AUDIT_PAGE, include_in_schema=False, response_model=None)
def find_case(request: Request, node: Services, case: str = "") -> Response:
    """The audit page's case form: the case's page (303), or what is wrong with the id."""
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    case_id = parsed_case_id(case)
    if case_id is None:
        return _bad_case_id(caller, case)
    return RedirectResponse(f"{CASE_AUDIT_PAGE}/{case_id}", status_code=303)


def _bad_case_id(caller: Principal, text: str) -> Response:
    shown = text[:80] if text else "（空）"
    return problem_page(
        caller,
        422,
        "案件编号有误",
        f"案件编号（case）应为 UUID，例如 2bbd067c-bf64-42c4-927d-0139a63f9ffb，收到“{shown}”。",
    )


@router.get(f"{CASE_AUDIT_PAGE}/{{case_id}}", include_in_schema=False, response_model=None)
def case_audit_page(request: Request, node: Services, case_id: str) -> Response:
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    parsed = parsed_case_id(case_id)
    if parsed is None:
        return _bad_case_id(caller, case_id)
    try:
        report = audit_case(parsed, node, caller)
        story = case_timeline(node.ledger, parsed)
    except UnknownCase:
        return problem_page(caller, 404, "未找到案件", f"本台账没有案件 {parsed}。")
    mine = [f for f in report.findings if f.case_id == str(parsed)]
    others = [f for f in report.findings if f.case_id != str(parsed)]
    places = FindingPlaces(node)
    registry = (
        "<h2>密钥登记中的问题</h2><p>核验本案所依据的密钥登记有问题：</p>"
        '<ul id="registry-findings">'
        + "".join(
            f"<li>{places.html(f.case_id, f.seq)}：{reason_text(f.reason)} {escape(f.detail)}</li>"
            for f in others
        )
        + "</ul>"
        if others
        else ""
    )
    verdict = (
        '<p class="verdict valid" id="verdict">每一步都通过核验</p>'
        if not mine and not others
        else f'<p class="verdict invalid" id="verdict">发现 {len(mine)} 个问题，'
        "已在所在步骤标出</p>"
    )
    main = f"""{_case_facts(story)}
{verdict}
<p>核验依据节点保存的原始字节和密钥登记，从区域根密钥重建认证链（docs/audit.md）。
<a href="{ACCESS_PAGE}?case={parsed}">本案的个人信息访问记录</a></p>
{registry}
<h2>办理过程与核验</h2>
{_timeline_table(story, mine)}"""
    return audit_frame(f"案件核验 {str(parsed)[:8]}", main, caller)
