"""QR codes of compact licenses: written with segno, read back with OpenCV.

OpenCV (``opencv-python-headless``) is a dev dependency. Without it, the read-back tests skip
with a reason, except in CI (``CI=true``), where they fail: there it must be installed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
import segno

from licenses.qr import ERROR_CORRECTION, QRDecodeError, decode_qr_png, qr_png, qr_version

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "license-offline"
COMPACT = json.loads((VECTORS / "compact.json").read_text(encoding="utf-8"))
TEXT: str = COMPACT["expected"]["text"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def opencv() -> None:
    """Skip (fail in CI) when OpenCV is not importable."""
    if importlib.util.find_spec("cv2") is None:
        reason = "OpenCV (opencv-python-headless, a dev dependency) is not installed"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: the QR read-back tests must run)", pytrace=False)
        pytest.skip(reason)


def test_qr_parameters_alphanumeric_level_m() -> None:
    code = segno.make_qr(TEXT, error="M", mode="alphanumeric", boost_error=False)
    assert code.mode == "alphanumeric"
    assert code.error == ERROR_CORRECTION == "M"
    assert qr_version(TEXT) == code.version == COMPACT["expected"]["qr_version"]


def test_realistic_compact_license_qr_version(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\ncompact license: {len(TEXT)} characters, QR version {qr_version(TEXT)}-M")
    # See docs/license-offline.md, QR code: version 10 cannot hold a signed license.
    assert qr_version(TEXT) <= 15


def test_png_is_a_png_with_a_quiet_zone() -> None:
    png = qr_png(TEXT, scale=4, border=4)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    version = qr_version(TEXT)
    modules = 17 + 4 * version + 2 * 4
    # IHDR: width and height in pixels, big-endian, at bytes 16-24.
    assert int.from_bytes(png[16:20], "big") == modules * 4
    assert int.from_bytes(png[20:24], "big") == modules * 4


def test_text_outside_the_alphanumeric_set_is_refused() -> None:
    with pytest.raises(ValueError):
        qr_png("tb1:lowercase")


@pytest.mark.usefixtures("opencv")
def test_compact_string_round_trips_through_a_png() -> None:
    assert decode_qr_png(qr_png(TEXT)) == TEXT


@pytest.mark.usefixtures("opencv")
def test_a_freshly_encoded_license_round_trips() -> None:
    import hashlib
    from datetime import date

    from ledger.suites import Ed25519Signer
    from licenses.compact import decode_compact, document_digest, encode_compact

    signer = Ed25519Signer.from_seed(hashlib.sha256(b"qr-test").digest())
    text = encode_compact(
        signer,
        identifier=COMPACT["inputs"]["identifier"],
        valid_from=date(2026, 3, 1),
        valid_until=None,
        status_list_id="320000-12",
        status_index=131_071,
        holder_name="欧阳娜娜",
        holder_id="32010219900307123X",
        document_digest=document_digest(b"doc"),
    )
    read = decode_qr_png(qr_png(text))
    assert read == text
    decode_compact(read).verify(signer.public_key)


@pytest.mark.usefixtures("opencv")
def test_an_image_without_a_code_is_refused() -> None:
    blank = io.BytesIO()
    segno.make_qr("X").save(blank, kind="png", scale=1, border=0, dark="white")
    with pytest.raises(QRDecodeError):
        decode_qr_png(blank.getvalue())
    with pytest.raises(QRDecodeError):
        decode_qr_png(b"not a png")


@pytest.mark.usefixtures("opencv")
def test_codes_the_classic_detector_misses_are_read_back() -> None:
    """About 1 in 25 valid codes of a license's size defeat OpenCV's classic detector; the
    license walkthrough failed so, now and then, on a fresh license's random bytes."""
    import random

    import cv2
    import numpy as np

    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    pick = random.Random(1)
    missed: list[tuple[str, bytes]] = []
    while len(missed) < 3:
        text = "TB1:" + "".join(pick.choice(alphabet) for _ in range(480))
        png = qr_png(text)
        image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image is not None
        if not cv2.QRCodeDetector().detectAndDecode(image)[0]:
            missed.append((text, png))
    for text, png in missed:
        assert decode_qr_png(png) == text
