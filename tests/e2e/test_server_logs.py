"""The served node's log: one JSON object per line, and no trace of what a client typed.

Found by review (issue 13 item 4): uvicorn's access log printed every query string, so an ID
number refused as a ``purpose`` (422) was in the server's log anyway. The real server's stderr
is read here, not a logger inside the test process.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.logs import JsonFormatter
from tests.support.serving import Served, served, tongban

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
# Every form in which the ID number could reach the log: itself, lower case, URL-encoded
# neighbours do not change digits; its birth date and its sequence digits stand for parts.
TRACES = (ID_NUMBER, ID_NUMBER.lower(), "19491231002", MOBILE, "核对", "%E6%A0%B8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("logs") / "demo"
    built = tongban("demo", "--cases", "2", "--seed", "5", "--data-dir", str(data_dir))
    assert built.returncode == 0, built.stderr
    return data_dir


def _case_ids(data_dir: Path) -> list[str]:
    listed = tongban("case", "list", "--data-dir", str(data_dir))
    assert listed.returncode == 0, listed.stderr
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


def _raw_request(node: Served, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_refused_purpose_leaves_no_trace_in_the_server_log(demo: Path, tmp_path: Path) -> None:
    tokens = json.loads((demo / "demo-keys" / "tokens.json").read_text())
    case_id = _case_ids(demo)[0]
    purpose = f"核对{ID_NUMBER}"
    with served(demo, tmp_path / "server.log") as node:
        statuses = []
        with httpx.Client(base_url=node.url) as client:
            for token in tokens["bodies"].values():
                answer = client.get(
                    f"/cases/{case_id}",
                    params={"personal": "true", "purpose": purpose},
                    headers={"Authorization": f"Bearer {token}"},
                )
                statuses.append(answer.status_code)
                if answer.status_code == 422:
                    assert answer.json()["field"] == "purpose"
            # The same number in a path, in a body, and in a request line h11 refuses.
            client.get(f"/licenses/{ID_NUMBER}")
            client.get(f"/catalog/{MOBILE}", params={"q": ID_NUMBER})
            client.post(
                "/applicants",
                json={"name": "张三", "id_number": ID_NUMBER, "phone": MOBILE, "bogus": 1},
                headers={"Authorization": f"Bearer {next(iter(tokens['bodies'].values()))}"},
            )
        bad = _raw_request(
            node, f"GET /cases?purpose={ID_NUMBER} HTTP/1.1\r\nHost\r\n\r\n".encode()
        )
        assert bad.startswith(b"HTTP/1.1 400")
    assert 422 in statuses, "no body on the case was asked: the test would prove nothing"

    text = (tmp_path / "server.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    found = [trace for trace in TRACES if trace in text]
    assert found == [], f"the log carries {found}"
    assert case_id not in text, "paths are not logged, route templates are"

    access = [line for line in lines if line["logger"] == "tongban.access"]
    refused = [line for line in access if line["status"] == 422]
    assert refused, access
    assert {(line["method"], line["route"]) for line in refused} >= {("GET", "/cases/{case_id}")}
    expected = {"time", "level", "logger", "message", "method", "route", "status", "duration_ms"}
    for line in access:
        assert set(line) == expected, line
        assert isinstance(line["duration_ms"], float | int)
    assert ("GET", "/licenses/{identifier}") in {(a["method"], a["route"]) for a in access}


def test_an_unexpected_error_is_logged_by_type_and_stack_only() -> None:
    # A message may quote a value (h11 quotes the request line, a driver the row).
    try:
        raise ValueError(f"bad value {ID_NUMBER}")
    except ValueError:
        record = logging.LogRecord(
            "tongban.api", logging.ERROR, __file__, 1, "unexpected error", (), sys.exc_info()
        )
    line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    assert line["exception"]["type"] == "ValueError"
    assert any("test_server_logs.py" in frame for frame in line["exception"]["stack"])
    assert ID_NUMBER not in json.dumps(line, ensure_ascii=False)
