"""What every test-vector generator shares: fixed seeds, JSON forms, and write-or-check.

Generators (``make_vectors.py``, ``make_license_vectors.py``,
``make_license_offline_vectors.py``) build their vectors and hand them to :func:`run`, which
writes ``<name>.json`` files or, with ``--check``, exits 1 naming any file that would change
and any file no generator produces any more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ledger.suites import Ed25519Signer


def seed(label: str) -> bytes:
    """A fixed 32-byte Ed25519 seed named by ``label`` (vectors only)."""
    return hashlib.sha256(label.encode()).digest()


def signer_json(label: str, seed_bytes: bytes) -> dict[str, str]:
    signer = Ed25519Signer.from_seed(seed_bytes)
    return {
        "label": label,
        "seed": seed_bytes.hex(),
        "public_key": signer.public_key.hex(),
        "suite": signer.suite,
        "kid": signer.key_id,
    }


def to_json(value: Any) -> Any:
    """A decoded msgpack value in the vectors' JSON form (bytes become ``{"bin": hex}``)."""
    if isinstance(value, bytes):
        return {"bin": value.hex()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def render(vector: Mapping[str, Any]) -> str:
    return json.dumps(vector, indent=1, ensure_ascii=False) + "\n"


def run(
    argv: list[str] | None,
    *,
    description: str,
    out: Path,
    vectors: Callable[[], Mapping[str, Mapping[str, Any]]],
) -> int:
    """Write ``out/<name>`` for every vector, or with ``--check`` report what is stale."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file would change")
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args(argv)
    wanted = {name: render(vector) for name, vector in vectors().items()}
    if args.check:
        stale = [
            name
            for name, text in wanted.items()
            if not (args.out / name).exists()
            or (args.out / name).read_text(encoding="utf-8") != text
        ]
        extra = sorted({p.name for p in args.out.glob("*.json")} - set(wanted))
        for name in stale + extra:
            print(f"stale vector: {args.out / name} (regenerate it)", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0
