"""The P3 baseline: a trivial FastAPI endpoint, served by uvicorn as ``tongban serve`` is.

``POST /echo`` reads the body and answers a small JSON document: no auth, no database.
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

from tests.support.live import read_port

app = FastAPI()


@app.post("/echo", status_code=201)
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


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

    with bind_listening_socket("127.0.0.1", 0) as sock:
        write_port_file(Path(sys.argv[1]), sock.getsockname()[1])
        uvicorn.run(app, fd=sock.fileno(), workers=1)
