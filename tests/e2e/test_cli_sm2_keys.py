"""``tongban keys generate --suite sm2-sm3`` and the commands that read SM2 keys."""

from __future__ import annotations

import ctypes.util
import json
from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger
from adapters.keyfiles import read_key
from adapters.settings import Settings
from api.cli import main
from ledger import sm2_openssl
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


# -- the crypto profile follows the keys, or refuses them (review of issue 19) ---------------


def test_init_with_an_sm2_root_makes_a_guomi_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TONGBAN_CRYPTO_PROFILE", raising=False)
    root = tmp_path / "root.key"
    assert main(["keys", "generate", str(root), "--suite", "sm2-sm3"]) == 0
    capsys.readouterr()
    node = tmp_path / "node"
    assert main(["init", "--data-dir", str(node), "--root-key", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    check_public_key(bytes.fromhex(shown["node_public_key"]))  # an SM2 node key
    assert read_key(node / "node.key").suite == "sm2-sm3"
    assert json.loads((node / "node.json").read_text())["crypto_profile"] == "guomi"
    assert main(["audit", "verify", "--data-dir", str(node)]) == 0
    assert "clean" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("root_suite", "env", "flag", "origin", "wanted"),
    [
        ("sm2-sm3", "international", None, "TONGBAN_CRYPTO_PROFILE=international", "guomi"),
        ("sm2-sm3", None, "international", "--crypto-profile international", "guomi"),
        ("ed25519-sha256", None, "guomi", "--crypto-profile guomi", "international"),
        ("ed25519-sha256", "guomi", None, "TONGBAN_CRYPTO_PROFILE=guomi", "international"),
    ],
)
def test_init_refuses_a_profile_the_root_key_contradicts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    root_suite: str,
    env: str | None,
    flag: str | None,
    origin: str,
    wanted: str,
) -> None:
    root = tmp_path / "root.key"
    assert main(["keys", "generate", str(root), "--suite", root_suite]) == 0
    capsys.readouterr()
    if env is None:
        monkeypatch.delenv("TONGBAN_CRYPTO_PROFILE", raising=False)
    else:
        monkeypatch.setenv("TONGBAN_CRYPTO_PROFILE", env)
    node = tmp_path / "node"
    argv = ["init", "--data-dir", str(node), "--root-key", str(root)]
    assert main(argv + (["--crypto-profile", flag] if flag else [])) == 64
    err = capsys.readouterr().err
    assert f"is an {root_suite} root key" in err and f"({origin})" in err, err
    assert f"give --crypto-profile {wanted}" in err, err
    assert not node.exists()  # nothing half made: no trust.json, no node key


def test_a_node_key_of_another_suite_than_the_profile_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TONGBAN_CRYPTO_PROFILE", raising=False)
    root = tmp_path / "root.key"
    assert main(["keys", "generate", str(root), "--suite", "ed25519-sha256"]) == 0
    node = tmp_path / "node"
    assert main(["init", "--data-dir", str(node), "--root-key", str(root)]) == 0
    capsys.readouterr()
    # The same data directory, served as guomi: its Ed25519 node key would sign its receipts.
    monkeypatch.setenv("TONGBAN_CRYPTO_PROFILE", "guomi")
    with pytest.raises(ValueError, match=r"node\.key is an ed25519-sha256 key"):
        open_ledger(Settings(data_dir=node))
    body = tmp_path / "body.key"
    assert main(["keys", "generate", str(body), "--suite", "sm2-sm3"]) == 0
    register = ["keys", "register-body", "--data-dir", str(node), "--root-key", str(root)]
    register += ["--body-id", "510104-RS", "--name", "人社局", "--body-key", str(body)]
    assert main(register) == 64
    assert "node.key is an ed25519-sha256 key" in capsys.readouterr().err
    # Refused before it listens (last: before the fix it served, and never returned).
    monkeypatch.setenv("TONGBAN_DATA_DIR", str(node))  # serve sets these: restored after
    monkeypatch.setenv("TONGBAN_PORT", "0")
    assert main(["serve", "--data-dir", str(node), "--port", "0"]) == 64
    err = capsys.readouterr().err
    assert f"{node / 'node.key'} is an ed25519-sha256 key" in err, err
    assert "TONGBAN_CRYPTO_PROFILE=guomi" in err and "TONGBAN_CRYPTO_PROFILE=international" in err
    # Under the profile it was made in, the node works (an SM2 body under an Ed25519 root).
    monkeypatch.setenv("TONGBAN_CRYPTO_PROFILE", "international")
    assert main(register) == 0


def test_keys_generate_and_demo_follow_the_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_CRYPTO_PROFILE", "guomi")
    monkeypatch.delenv("TONGBAN_DATA_DIR", raising=False)
    key = tmp_path / "new.key"
    assert main(["keys", "generate", str(key)]) == 0
    assert json.loads(capsys.readouterr().out)["suite"] == "sm2-sm3"
    assert read_key(key).suite == "sm2-sm3"

    refused = tmp_path / "refused"
    argv = ["demo", "--cases", "1", "--data-dir", str(refused), "--suite", "ed25519-sha256"]
    assert main(argv) == 64
    err = capsys.readouterr().err
    assert "--suite ed25519-sha256" in err and "TONGBAN_CRYPTO_PROFILE=guomi" in err, err
    assert not refused.exists()

    demo = tmp_path / "demo"
    assert main(["demo", "--cases", "1", "--data-dir", str(demo), "--json"]) == 0
    capsys.readouterr()
    assert read_key(demo / "node.key").suite == "sm2-sm3"
    assert read_key(demo / "demo-keys" / "root-510000.key").suite == "sm2-sm3"
    assert json.loads((demo / "node.json").read_text())["crypto_profile"] == "guomi"


def test_a_guomi_node_without_sm2_in_libcrypto_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TONGBAN_CRYPTO_PROFILE", raising=False)
    root = tmp_path / "root.key"
    assert main(["keys", "generate", str(root), "--suite", "sm2-sm3"]) == 0
    node = tmp_path / "node"
    assert main(["init", "--data-dir", str(node), "--root-key", str(root)]) == 0
    capsys.readouterr()
    # This machine's libcrypto, as if it could not be loaded (or had no SM2).
    monkeypatch.setattr(sm2_openssl, "_loaded", None)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libcrypto-without-sm2.so.3")
    body = tmp_path / "body.key"
    assert main(["keys", "generate", str(body), "--suite", "sm2-sm3"]) == 0  # signs: gmalglib
    capsys.readouterr()
    register = ["keys", "register-body", "--data-dir", str(node), "--root-key", str(root)]
    register += ["--body-id", "510104-RS", "--name", "人社局", "--body-key", str(body)]
    assert main(register) == 64
    err = capsys.readouterr().err
    assert "crypto profile guomi accepts sm2-sm3" in err and "libcrypto-without-sm2.so.3" in err
    monkeypatch.setenv("TONGBAN_DATA_DIR", str(node))  # serve sets these: restored after
    monkeypatch.setenv("TONGBAN_PORT", "0")
    # Refused before it listens (before the check it served, and never returned).
    assert main(["serve", "--data-dir", str(node), "--port", "0"]) == 64
    err = capsys.readouterr().err
    assert "libcrypto-without-sm2.so.3" in err and "a guomi node signs with SM2" in err, err
    # With libcrypto back, the same command works.
    monkeypatch.undo()
    sm2_openssl.libcrypto()
    monkeypatch.delenv("TONGBAN_CRYPTO_PROFILE", raising=False)
    assert main(register) == 0
