"""The P3 baseline: a trivial FastAPI endpoint, served by uvicorn as ``tongban serve`` is.

``POST /echo`` reads the body and answers a small JSON document: no auth, no database.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/echo", status_code=201)
async def echo(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}


if __name__ == "__main__":
    import sys

    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1)
