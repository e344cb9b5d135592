"""A root key protected by a passphrase: generated, then read by every command that signs with
it, and refused with a clear message when the passphrase is wrong or missing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from adapters.keyfiles import KeyFileError, read_key
from api.cli import main


def _generate(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, str]:
    assert main(["keys", "generate", str(path), *extra]) == 0
    generated: dict[str, str] = json.loads(capsys.readouterr().out)
    return generated


def test_a_passphrase_root_key_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "keys" / "root.key"
    monkeypatch.setenv("TONGBAN_KEY_PASSPHRASE", "correct horse battery staple")
    generated = _generate(root, capsys, "--passphrase")

    pem = root.read_text()
    assert pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert root.stat().st_mode & 0o777 == 0o600
    signer = read_key(root)
    assert signer.key_id == generated["kid"]
    assert signer.private_seed().hex() not in pem

    node = tmp_path / "node"
    assert main(["init", "--data-dir", str(node), "--root-key", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)["root_kid"] == generated["kid"]
    body = tmp_path / "keys" / "body.key"
    _generate(body, capsys)  # an unencrypted key still reads as before
    registered = main(
        [
            "keys",
            "register-body",
            "--data-dir",
            str(node),
            "--root-key",
            str(root),
            "--body-id",
            "510104-RS",
            "--name",
            "成都市锦江区人社局",
            "--body-key",
            str(body),
        ]
    )
    assert registered == 0, capsys.readouterr().err


def test_a_wrong_or_missing_passphrase_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root.key"
    monkeypatch.setenv("TONGBAN_KEY_PASSPHRASE", "right")
    _generate(root, capsys, "--passphrase")
    node = tmp_path / "node"

    monkeypatch.setenv("TONGBAN_KEY_PASSPHRASE", "wrong")
    assert main(["init", "--data-dir", str(node), "--root-key", str(root)]) == 64
    err = capsys.readouterr().err
    assert f"{root}: cannot read the key (wrong passphrase" in err
    assert not node.exists()

    monkeypatch.delenv("TONGBAN_KEY_PASSPHRASE")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to ask on
    assert main(["init", "--data-dir", str(node), "--root-key", str(root)]) == 64
    assert "set TONGBAN_KEY_PASSPHRASE or run on a terminal" in capsys.readouterr().err
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        read_key(root, "also wrong")
    assert read_key(root, "right").public_key


def test_generate_never_overwrites_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root.key"
    _generate(root, capsys)
    before = root.read_bytes()
    monkeypatch.setenv("TONGBAN_KEY_PASSPHRASE", "x")
    assert main(["keys", "generate", str(root), "--passphrase"]) == 64
    assert "refusing to overwrite" in capsys.readouterr().err
    assert root.read_bytes() == before


def test_an_officer_certified_for_a_second_device_keeps_both_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, node = tmp_path / "keys", tmp_path / "node"
    for name in ("root", "body", "desk", "laptop", "usb"):
        _generate(keys / f"{name}.key", capsys)
    assert main(["init", "--data-dir", str(node), "--root-key", str(keys / "root.key")]) == 0
    body = ["--body-id", "510104-RS", "--body-key", str(keys / "body.key")]
    register = ["keys", "register-body", "--data-dir", str(node), "--root-key"]
    assert main([*register, str(keys / "root.key"), "--name", "锦江区人社局", *body]) == 0
    certify = ["keys", "certify-officer", "--data-dir", str(node), *body, "--officer-id", "rs-1"]
    assert main([*certify, "--officer-key", str(keys / "desk.key")]) == 0
    assert main([*certify, "--officer-key", str(keys / "laptop.key"), "--device", "laptop"]) == 0
    capsys.readouterr()
    assert main([*certify, "--officer-key", str(keys / "usb.key"), "--device", "usb key"])
    assert "body.device" in capsys.readouterr().err

    from adapters.bootstrap import open_ledger
    from adapters.settings import Settings

    ledger = open_ledger(Settings(data_dir=node), read_only=True)
    try:
        ledger.refresh_registry()
        registry = ledger.registry
        later = registry.keys[read_key(keys / "laptop.key").key_id].valid_from + 1
        for name in ("desk", "laptop"):
            kid = read_key(keys / f"{name}.key").key_id
            found = registry.officer_key_at(kid, later, body_id="510104-RS", officer_id="rs-1")
            assert found.kid == kid
    finally:
        ledger.close()
