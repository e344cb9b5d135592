"""The monthly bulletin (定期通报) as people and spreadsheets read it: CSV and a printable page.

The figures are :func:`ledger.ratings.stats.monthly_bulletin`'s; this module only lays them out.
"""

from __future__ import annotations

import csv
import io
from html import escape

from ledger.ratings.stats import BULLETIN_COLUMNS, Bulletin

# Column headings of the printable page: the Chinese term with the column's name below it.
HEADINGS = {
    "body": "部门",
    "item": "事项",
    "cases_received": "收件",
    "cases_closed": "办结",
    "legs_closed": "办结环节",
    "on_time_rate": "按时办结率",
    "overdue": "逾期",
    "median_handling_days": "办理用时中位数",
    "ratings": "评价数",
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
    "satisfaction_rate": "满意率",
    "rectifications_opened": "差评",
    "rectifications_closed": "整改办结",
    "rectifications_open": "整改中",
    "rectifications_late": "整改逾期",
    "rectification_on_time_rate": "整改按时率",
}


def bulletin_csv(bulletin: Bulletin) -> str:
    """One header line (the column names), one line per body and item; notes are not data."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=BULLETIN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(bulletin.rows)
    return out.getvalue()


def _breakable(name: str) -> str:
    """A column name that may wrap after each underscore (``cases_<wbr>received``)."""
    return "_<wbr>".join(escape(part) for part in name.split("_"))


def bulletin_html(bulletin: Bulletin, *, ledger_name: str) -> str:
    """A self-contained page that fits a 1280-px screen and prints on A4 landscape: the
    headings wrap (Chinese between characters, the column names after underscores), and on a
    narrower screen the table scrolls inside its own box instead of the page."""
    columns = [c for c in BULLETIN_COLUMNS if c != "month"]
    head = "".join(
        f'<th scope="col">{escape(HEADINGS.get(c, c))}<small>{_breakable(c)}</small></th>'
        for c in columns
    )
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(str(row[c]))}</td>" for c in columns) + "</tr>"
        for row in bulletin.rows
    )
    notes = "".join(f"<li>{escape(note)}</li>" for note in bulletin.notes)
    empty = "" if bulletin.rows else "<p>No case in this ledger up to this month.</p>"
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>政务服务跨省通办定期通报 {escape(bulletin.month)}</title>
<style>
@page {{ size: A4 landscape; margin: 12mm; }}
body {{ font-family: sans-serif; font-size: 10pt; margin: 8px; }}
.table {{ max-width: 100%; overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; font-size: 9pt; }}
th, td {{ border: 1px solid #444; padding: 2px 3px; text-align: right; }}
th {{ background: #eee; vertical-align: bottom; font-weight: 600; }}
th small {{ display: block; font-size: 7pt; font-weight: normal; color: #333; }}
td:nth-child(1), td:nth-child(2) {{ text-align: left; white-space: nowrap; }}
th:nth-child(1), th:nth-child(2) {{ text-align: left; }}
tr {{ page-break-inside: avoid; }}
@media print {{ .table {{ overflow: visible; }} }}
</style>
</head>
<body>
<h1>政务服务跨省通办定期通报 · {escape(bulletin.month)}</h1>
<p>Ledger {escape(ledger_name)}; recomputed from its signed steps (dates in China time).</p>
{empty}<div class="table"><table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table></div>
<ul>{notes}</ul>
</body>
</html>
"""
