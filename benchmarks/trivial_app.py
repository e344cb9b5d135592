"""The P3 and P13 baselines: trivial FastAPI endpoints, served by uvicorn as ``tongban serve``
is.

``POST /echo`` reads the body and answers a small JSON document; ``GET /page`` answers a small
HTML page of 50 rows: no auth, no database.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from tests.support.live import read_port

app = FastAPI()


@app.post("/echo", status_code=201)
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


# A page of about the officers' pages' size, built per request (the P13 baseline).
_PAGE_ROWS = "".join(f"<tr><td>{n}</td><td>待办</td></tr>" for n in range(50))


@app.get("/page")
async def page() -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>待办案件</title>"
        f"</head><body><h1>待办案件</h1><table>{_PAGE_ROWS}</table></body></html>"
    )


@contextmanager
def serve_trivial(log_path: Path) -> Iterator[str]:
    """This app under uvicorn (one worker) in a subprocess on a port it binds itself; yield
    its base URL once it answers; always stop it."""
    port_file = log_path.with_suffix(".port")
    port_file.unlink(missing_ok=True)
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.trivial_app", str(port_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        port = read_port(port_file, server, log_path, timeout=30)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"{url}/echo", content=b"", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


if __name__ == "__main__":
    import uvicorn

    from api.cli import bind_listening_socket, write_port_file
    from api.server import protocol_name

    with bind_listening_socket("127.0.0.1", 0) as sock:
        write_port_file(Path(sys.argv[1]), sock.getsockname()[1])
        # The node's own HTTP protocol (api/server.py): the same connection handling, Nagle
        # off included (uvicorn opens a handed socket as AF_UNIX and leaves it on).
        uvicorn.run(app, fd=sock.fileno(), workers=1, http=protocol_name())
