"""``tongban keys generate --suite sm2-sm3`` and the commands that read SM2 keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.keyfiles import read_key
from api.cli import main
from ledger.sm2 import Sm2Signer, check_public_key
from ledger.suites import key_id


def test_generate_an_sm2_key_and_trust_an_sm2_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "root.key"
    assert main(["keys", "generate", str(key_file), "--suite", "sm2-sm3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    public_key = bytes.fromhex(shown["public_key"])
    check_public_key(public_key)
    assert shown["suite"] == "sm2-sm3" and shown["kid"] == key_id("sm2-sm3", public_key)
    signer = read_key(key_file)
    assert isinstance(signer, Sm2Signer) and signer.public_key == public_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"

    monkeypatch.setenv("TONGBAN_KEY_PASSPHRASE", "s3cret passphrase")
    sealed = tmp_path / "sealed.key"
    assert main(["keys", "generate", str(sealed), "--suite", "sm2-sm3", "--passphrase"]) == 0
    sealed_shown = json.loads(capsys.readouterr().out)
    assert read_key(sealed).key_id == sealed_shown["kid"]

    argv = ["keys", "trust", "--data-dir", str(tmp_path / "node"), "--trust-region", "510000"]
    assert main([*argv, "--public-key", shown["public_key"]]) == 0
    trusted = json.loads((tmp_path / "node" / "trust.json").read_text())
    assert trusted == {"510000": shown["public_key"]}


def test_an_unknown_suite_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", str(tmp_path / "k.key"), "--suite", "rsa-sha1"]) == 64
    assert "--suite" in capsys.readouterr().err
    assert not (tmp_path / "k.key").exists()
