"""Two regions that exchange a license, built with the ``tongban`` CLI as the walkthrough does.

Sichuan (510000) is the demo node; its 锦江区人社局 (510104-RS) holds a certified license key
and Sichuan publishes a trust list that accepts the 社会保障卡. Jiangsu (320000) pins Sichuan's
root and publishes a list that accepts the card from both regions. With both nodes served,
:func:`issue_card` has Jiangsu fetch Sichuan's keys, trust list and status list, walks a
Jiangsu window's proxy case to delivery and issues the card: a real license, issued through
the real service, that Jiangsu verifies ``valid``.

Used by the license walkthrough (``tests/e2e/test_license_walkthrough.py``), which asserts
each step's output, and by benchmark P6 (``benchmarks/test_licenses.py``). Each command runs
through ``ok(*argv) -> stdout``, which fails on a non-zero exit: the walkthrough passes one
over ``capsys``, :func:`cli_ok` captures by itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.cli import main
from tests.support.walkthrough import (
    HOME,
    PICKUP,
    STEPS_TO_PICKUP,
    WINDOW,
    receive_options,
)

#: ``ok(*argv)``: run a ``tongban`` command, fail unless it exits 0, return its stdout.
Cli = Callable[..., str]

SOCIAL_SECURITY_CARD = "11100000TB0000010H001"
RS_USCC = "11510104MB0000123N"
STATUS_LIST = "510000-1"


def cli_ok(*argv: str) -> str:
    """Run a ``tongban`` command in process; its stdout, or ``AssertionError`` with stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    assert code == 0, f"{argv[:2]}: {err.getvalue()}"
    return out.getvalue()


@dataclass(frozen=True)
class Regions:
    """Both data directories and what setting them up answered."""

    root: Path
    sc: Path
    js: Path
    license_key: Path
    certified: dict[str, Any]  # keys certify-license-key
    published: dict[str, Any]  # Sichuan's trust-list publish
    js_peer: str  # Jiangsu's peer token at Sichuan
    rs_token: str  # 510104-RS's body token at Sichuan

    @property
    def keys(self) -> Path:
        return self.sc / "demo-keys"


@dataclass(frozen=True)
class Issued:
    """The delivered case and its card, as Jiangsu fetched Sichuan's lists before issuance."""

    fetched: dict[str, Any]
    case: str
    identifier: str
    issued: dict[str, Any]  # license issue: identifier, compact, qr, qr_version ...
    text: str  # the TB1: text, scanned back from the QR image


def prepare_regions(root: Path, ok: Cli = cli_ok, *, suite: str = "ed25519-sha256") -> Regions:
    """Sichuan's demo node with a certified license key and trust list; Jiangsu's node.

    With ``suite="sm2-sm3"`` Sichuan is a ``guomi`` node (every demo key and the license key
    SM2) while Jiangsu stays an Ed25519 node under a root key of its own."""
    sc, js = root / "sc", root / "js"
    keys = sc / "demo-keys"
    ok("demo", "--cases", "20", "--seed", "1", "--data-dir", str(sc), "--suite", suite)
    license_key = root / "rs-license.key"
    ok("keys", "generate", str(license_key), "--suite", suite)
    sc_root_key = str(keys / "root-510000.key")
    certified = json.loads(
        ok(
            "keys",
            "certify-license-key",
            "--data-dir",
            str(sc),
            "--root-key",
            sc_root_key,
            "--body-id",
            "510104-RS",
            "--license-key",
            str(license_key),
        )
    )
    published = json.loads(
        ok(
            "license",
            "trust-list",
            "publish",
            "--data-dir",
            str(sc),
            "--root-key",
            sc_root_key,
            "--issuer-code",
            f"510104-RS={RS_USCC}",
            "--accept",
            f"{SOCIAL_SECURITY_CARD}=510000",
        )
    )
    js_root_key = str(keys / "root-320000.key")
    if suite != "ed25519-sha256":
        js_root_key = str(root / "js-root.key")
        ok("keys", "generate", js_root_key, "--suite", "ed25519-sha256")
    ok("init", "--data-dir", str(js), "--region", "320000", "--root-key", js_root_key)
    sc_root = json.loads((sc / "trust.json").read_text())["510000"]
    ok("keys", "trust", "--data-dir", str(js), "--trust-region", "510000", "--public-key", sc_root)
    ok(
        "license",
        "trust-list",
        "publish",
        "--data-dir",
        str(js),
        "--root-key",
        js_root_key,
        "--accept",
        f"{SOCIAL_SECURITY_CARD}=320000,510000",
    )
    js_peer = json.loads(ok("token", "create", "--data-dir", str(sc), "--peer", "320000"))["token"]
    tokens = json.loads((keys / "tokens.json").read_text(encoding="utf-8"))
    return Regions(
        root=root,
        sc=sc,
        js=js,
        license_key=license_key,
        certified=certified,
        published=published,
        js_peer=js_peer,
        rs_token=tokens["bodies"]["510104-RS"],
    )


def signer(regions: Regions, sc_url: str, officer: str) -> list[str]:
    """The options that sign a case command as ``officer`` at Sichuan's node."""
    return ["--server", sc_url, "--demo", str(regions.sc), "--as", officer]


def issue_card(regions: Regions, sc_url: str, ok: Cli = cli_ok) -> Issued:
    """Jiangsu fetches Sichuan's lists; a Jiangsu window's proxy case yields a 社会保障卡."""
    fetched = json.loads(
        ok(
            "license",
            "fetch",
            "--data-dir",
            str(regions.js),
            "--server",
            sc_url,
            "--list",
            STATUS_LIST,
        )
    )
    form = regions.root / "form.txt"
    form.write_text("申请表\n", encoding="utf-8")
    case = json.loads(
        ok(
            "case",
            "receive",
            *signer(regions, sc_url, WINDOW),
            *receive_options(form),
        )
    )["case_id"]
    for command, officer, options in STEPS_TO_PICKUP:
        ok("case", command, case, *signer(regions, sc_url, officer), *options)
    identifier = ok(
        "license",
        "id",
        "--case",
        case,
        "--type",
        SOCIAL_SECURITY_CARD,
        "--issuer-code",
        RS_USCC,
    ).strip()
    ok(
        "case",
        "deliver",
        case,
        *signer(regions, sc_url, PICKUP),
        "--method",
        "at_window",
        "--result-ref",
        identifier,
    )
    issued = json.loads(
        ok(
            "license",
            "issue",
            case,
            "--identifier",
            identifier,
            *signer(regions, sc_url, HOME),
            "--license-key",
            str(regions.license_key),
            "--face",
            "card_no=A12345678",
            "--out-dir",
            str(regions.root / "lic"),
        )
    )
    text = ok("license", "scan", issued["qr"]).strip()
    return Issued(fetched=fetched, case=case, identifier=identifier, issued=issued, text=text)
