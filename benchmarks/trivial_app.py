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

app = FastAPI()


@app.post("/echo", status_code=201)
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


@contextmanager
def serve_trivial(port: int, log_path: Path) -> Iterator[str]:
    """This app under uvicorn (one worker) in a subprocess; yield its base URL once it answers."""
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.trivial_app", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[1],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"{url}/echo", content=b"", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


if __name__ == "__main__":
    import sys

    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1)
