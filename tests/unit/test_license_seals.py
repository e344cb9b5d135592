"""The bodies' seals a node holds for its officers' pages (``adapters/license_seals.py``) and
what an issuance draws up (``licenses/drafts.py``)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from adapters.keyfiles import write_key
from adapters.license_seals import SealKeyError, read_seal, seal_path
from licenses.drafts import default_valid_until, derived_face, typed_face_fields
from licenses.types import get_type
from tests.support.world import seeded

SEAL = seeded("license/510104-RS")
CARD = get_type("11100000TB0000010H001")  # 社会保障卡: no statutory term
PERMIT = get_type("11100000MB0143028R901")  # 工业产品生产许可证: five years


def _installed(data_dir: Path, mode: int = 0o600) -> Path:
    path = seal_path(data_dir, "510104-RS")
    path.parent.mkdir(mode=0o700)
    write_key(path, SEAL)
    os.chmod(path, mode)
    return path


def test_a_seal_is_read_from_the_bodys_file(tmp_path: Path) -> None:
    assert read_seal(tmp_path, "510104-RS") is None  # none installed: no seal, no error
    path = _installed(tmp_path)
    assert path == tmp_path / "license-keys" / "510104-RS.key"
    found = read_seal(tmp_path, "510104-RS")
    assert found is not None and found.key_id == SEAL.key_id
    assert read_seal(tmp_path, "510000-ZWFW") is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660])
def test_a_seal_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = _installed(tmp_path, mode)
    with pytest.raises(SealKeyError, match=f"chmod 600 {path}"):
        read_seal(tmp_path, "510104-RS")


def test_a_seal_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    path = _installed(tmp_path)
    os.chmod(path.parent, 0o777)
    with pytest.raises(SealKeyError, match="seal key directory"):
        read_seal(tmp_path, "510104-RS")


def test_a_seal_file_that_is_no_key_is_refused(tmp_path: Path) -> None:
    path = _installed(tmp_path)
    path.write_text("not a key\n")
    with pytest.raises(SealKeyError, match="not a readable hex key file"):
        read_seal(tmp_path, "510104-RS")


@pytest.mark.parametrize("body_id", ["../510104-RS", ".hidden", "a/b", ""])
def test_a_body_id_that_would_leave_the_directory_is_refused(tmp_path: Path, body_id: str) -> None:
    with pytest.raises(SealKeyError, match="is not a body id"):
        read_seal(tmp_path, body_id)


def test_the_default_term_ends_the_day_before_its_anniversary() -> None:
    assert default_valid_until(CARD, date(2026, 3, 1)) is None  # no end
    assert default_valid_until(PERMIT, date(2026, 3, 1)) == date(2031, 2, 28)
    # Found writing this: from 29 February the client raised ValueError (no 29 February in
    # the end year); the term ends on 28 February, the day before 1 March.
    assert default_valid_until(PERMIT, date(2028, 2, 29)) == date(2033, 2, 28)


def test_the_node_fills_in_the_holder_day_and_issuer_and_the_officer_the_rest() -> None:
    typed = [spec.key for spec in typed_face_fields(CARD)]
    assert typed == ["card_no", "valid_until"]
    derived = derived_face(
        CARD,
        holder_name="欧阳明远",
        holder_code="11010519491231002X",
        issued_on=date(2026, 1, 1),
        issuer_name="锦江区人社局",
    )
    assert derived == {
        "holder_name": "欧阳明远",
        "social_security_no": "11010519491231002X",
        "issued_on": "2026-01-01",
    }
