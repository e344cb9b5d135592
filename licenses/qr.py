"""QR codes for compact licenses (parameters: ``docs/license-offline.md``).

A ``TB1:`` text is made only of Base45 characters, which are exactly QR's alphanumeric set, so
the code is written in alphanumeric mode (5.5 bits a character rather than 8) with error
correction level M (15 % of the code may be damaged), in the smallest version that holds it.

Decoding (:func:`decode_qr_png`) uses OpenCV, a development dependency: verifiers in the field
use their own scanner; Tongban only needs it to prove its codes read back.
"""

from __future__ import annotations

import io
from typing import Final

import segno

from licenses.errors import LicenseError

__all__ = ["ERROR_CORRECTION", "QRDecodeError", "decode_qr_png", "qr_png", "qr_version"]

ERROR_CORRECTION: Final = "M"


class QRDecodeError(LicenseError, ValueError):
    """No QR code could be read from an image."""


def _make(text: str) -> segno.QRCode:
    # boost_error=False: level M exactly, not whatever higher level happens to fit the version.
    return segno.make_qr(text, error=ERROR_CORRECTION, mode="alphanumeric", boost_error=False)


def qr_version(text: str) -> int:
    """The QR version (1-40) that :func:`qr_png` reaches for ``text``."""
    version = _make(text).version
    assert isinstance(version, int)  # a full QR code, never a Micro QR ("M1".."M4")
    return version


def qr_png(text: str, *, scale: int = 8, border: int = 4) -> bytes:
    """A PNG of the QR code of ``text`` (alphanumeric mode, error correction M).

    ``scale`` is pixels per module; ``border`` the quiet zone in modules (4 is the standard's
    minimum). Raises ``ValueError`` if ``text`` has a character outside QR's alphanumeric set.
    """
    out = io.BytesIO()
    _make(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def decode_qr_png(png: bytes) -> str:
    """The text of the QR code in a PNG image, read with OpenCV's ``QRCodeDetector``."""
    import cv2  # a dev dependency: imported only when a code is read back
    import numpy as np

    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise QRDecodeError("not a readable image")
    # OpenCV's classic detector misses about 1 in 25 valid codes of our size (finder patterns
    # it does not locate); the ArUco-based one reads those, so a miss is tried there too.
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        text, points, _ = detector.detectAndDecode(image)
        if points is not None and text:
            return str(text)
    raise QRDecodeError("no QR code found in the image")
