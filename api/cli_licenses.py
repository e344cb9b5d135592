"""``tongban license ...``: issue, show, verify, revoke electronic licenses; trust and status lists.

Signing commands (``issue``, ``revoke``, ``suspend``, ``reinstate``) sign with an officer's key
like ``tongban case`` (``--key/--body/--officer/--token`` or ``--demo DIR --as OFFICER``);
``issue`` also needs the body's license key (``--license-key``). ``verify`` exits 0 when the
license is valid, 1 when it is not (the primary reason and every failed check are printed).
``trust-list``, ``status-list`` and ``fetch`` are in ``api.cli_license_trust``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from adapters.atomic import write_atomically
from adapters.bootstrap import open_ledger, open_services
from adapters.keyfiles import read_key, read_trusted_roots
from api.cli_client import (
    client_from_args,
    connection_options,
    server_option,
    server_url,
)
from api.cli_common import fail, guarded
from api.cli_ledger import _settings
from api.cli_license_trust import add_list_commands, client_call, parse_pairs
from api.client import Refused
from api.license_client import change_status, identifier_for, issue_license
from licenses.compact import CompactRejected, decode_compact
from licenses.errors import LicenseServiceError
from licenses.qr import decode_qr_png, qr_png, qr_version
from licenses.status import SignedStatusList, StatusListRejected, parse_status_list
from licenses.status_lists import check_status_list
from licenses.trust import BEIJING, TrustListRejected, TrustStore
from licenses.verify import verify_license

EXIT_INVALID = 1


def _presented(value: str) -> bytes | str:
    """A ``TB1:`` text as given, or the contents of a file: a document, or a compact text."""
    if value.startswith("TB1:"):
        return value
    raw = Path(value).read_bytes()
    if raw.startswith(b"TB1:"):
        return raw.decode("ascii").strip()
    return raw


def _when(micros: Any) -> str:
    return datetime.fromtimestamp(int(micros) / 1_000_000, BEIJING).isoformat(timespec="seconds")


def _report(verdict: Any, as_json: bool) -> int:
    """Print a verdict (``Verdict.to_json`` shape): the answer, then what the status rests on
    and which trust lists were used, so a clerk sees how old an offline answer is."""
    if as_json:
        print(json.dumps(verdict, ensure_ascii=False))
        return 0 if verdict["valid"] else EXIT_INVALID
    if verdict["valid"]:
        print("valid")
    else:
        print(f"INVALID: {verdict['primary']} (failed: {', '.join(verdict['failed'])})")
    used = verdict.get("status_list")
    if verdict.get("online_detail"):
        print(f"issuer not asked or not answering: {verdict['online_detail']}")
    if verdict.get("status_source") == "online":
        print("status: from the issuer, now")
    elif used is not None:
        print(
            f"status list: {used['id']} version {used['version']}, issued "
            f"{_when(used['issued_at'])}, valid until {_when(used['valid_until'])}"
        )
    if verdict.get("status_detail"):
        print(f"status unknown: {verdict['status_detail']}")
    for trust in verdict.get("trust_lists") or []:
        print(
            f"trust list: {trust['id']} version {trust['version']}, "
            f"valid until {_when(trust['valid_until'])}"
        )
    return 0 if verdict["valid"] else EXIT_INVALID


# -- issuing body ----------------------------------------------------------------------------


def _id(args: argparse.Namespace) -> int:
    try:
        case_id = uuid.UUID(args.case)
    except ValueError:
        return fail(f"--case {args.case!r} is not a case id (UUID)")
    print(identifier_for(case_id, args.type, args.issuer_code).text)
    return 0


def _issue(args: argparse.Namespace) -> int:
    def run() -> int:
        license_key = read_key(args.license_key)
        case_id = uuid.UUID(args.case)
        with client_from_args(args) as client:
            issued = issue_license(
                client,
                license_key,
                case_id,
                args.identifier,
                face=parse_pairs(args.face, "--face"),
                valid_from=date.fromisoformat(args.valid_from) if args.valid_from else None,
                valid_until=(
                    "default"
                    if args.valid_until is None
                    else (date.fromisoformat(args.valid_until) if args.valid_until else None)
                ),
            )
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = issued.identifier.split(".")[-3]
        # The document holds the holder's name and ID number in clear: its issuer's alone.
        # The compact form and its QR code mask both, and are made to be handed out.
        write_atomically(out / f"{stem}.license", issued.document, mode=0o600)
        write_atomically(out / f"{stem}.txt", issued.compact + "\n", mode=0o644)
        write_atomically(out / f"{stem}.png", qr_png(issued.compact), mode=0o644)
        print(
            json.dumps(
                {
                    "identifier": issued.identifier,
                    "index": issued.index,
                    "document": str(out / f"{stem}.license"),
                    "compact": str(out / f"{stem}.txt"),
                    "qr": str(out / f"{stem}.png"),
                    "qr_version": qr_version(issued.compact),
                }
            )
        )
        return 0

    return client_call(run)


def _status_change(action: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        def run() -> int:
            with client_from_args(args) as client:
                answer = change_status(client, args.identifier, action, args.reason)
            print(json.dumps({"identifier": args.identifier, "index": answer["index"]}))
            return 0

        return client_call(run)

    return handler


def _reader(args: argparse.Namespace) -> Any:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    return httpx.Client(base_url=server_url(args).rstrip("/"), headers=headers, timeout=30)


def _answer(response: Any) -> Any:
    if response.status_code >= 400:
        problem = response.json()
        raise Refused(response.status_code, problem)
    return response.json()


def _show(args: argparse.Namespace) -> int:
    def run() -> int:
        headers = {}
        if args.grant:
            headers["Tongban-Grant"] = Path(args.grant).read_text().strip()
        with _reader(args) as http:
            view = _answer(
                http.get(
                    f"/licenses/{args.identifier}",
                    params={"purpose": args.purpose},
                    headers=headers,
                )
            )
        if args.json:
            print(json.dumps(view, ensure_ascii=False, indent=1))
        else:
            print(f"license  {view['identifier']}")
            print(f"status   {view['status']} ({view['state']})")
            print(f"type     {view['type']}   issuer {view['issuer_body']}")
            print(f"valid    {view['valid_from']} .. {view['valid_until'] or '长期'}")
            print(f"entry    {view['status_list']}#{view['status_index']}")
            for key, value in (view.get("metadata") or {}).items():
                print(f"{key:<9} {value}")
            for key, value in (view.get("face") or {}).items():
                print(f"face.{key:<4} {value}")
        return 0

    return client_call(run)


def _uses(args: argparse.Namespace) -> int:
    def run() -> int:
        with _reader(args) as http:
            uses = _answer(http.get(f"/licenses/{args.identifier}/uses"))
        if args.json:
            print(json.dumps(uses, ensure_ascii=False, indent=1))
        else:
            for use in uses:
                grant = f" grant {use['grant_id']}" if use["grant_id"] else ""
                print(
                    f"{use['at']}  {use['kind']} {use['subject']}  {use['scope']}  "
                    f"{use['purpose']}{grant}"
                )
            print(f"{len(uses)} uses")
        return 0

    return client_call(run)


def _grant(args: argparse.Namespace) -> int:
    def run() -> int:
        expires = datetime.now(BEIJING) + timedelta(days=args.days)
        with _reader(args) as http:
            answer = _answer(
                http.post(
                    f"/licenses/{args.identifier}/grants",
                    json={
                        "holder_code": args.holder_id,
                        "audience_region": args.audience_region,
                        "audience_body": args.audience_body,
                        "scope": args.scope.split(","),
                        "purpose": args.purpose,
                        "expires_at": int(expires.timestamp()) * 1_000_000,
                        "uses": args.uses,
                    },
                )
            )
        write_atomically(Path(args.out), answer["grant"] + "\n", mode=0o600)
        print(json.dumps({"grant_id": answer["grant_id"], "file": args.out}))
        return 0

    return client_call(run)


# -- QR codes ---------------------------------------------------------------------------------


def _qr(args: argparse.Namespace) -> int:
    text = _presented(args.license)
    if not isinstance(text, str):
        return fail("give the compact TB1: text or a file holding it")
    try:
        decode_compact(text)
    except CompactRejected as error:
        return fail(f"not a compact license: {error}")
    write_atomically(Path(args.out), qr_png(text), mode=0o644)
    print(json.dumps({"file": args.out, "qr_version": qr_version(text), "chars": len(text)}))
    return 0


def _scan(args: argparse.Namespace) -> int:
    png = Path(args.image).read_bytes()
    try:
        text = decode_qr_png(png)
    except ImportError as error:  # OpenCV is the `qr` extra, not in the runtime install
        return fail(
            f"reading a QR code needs OpenCV ({error.name or 'cv2'} is not installed): "
            "pip install 'tongban[qr]'"
        )
    print(text)
    return 0


# -- verification ------------------------------------------------------------------------------


def _verify_online(args: argparse.Namespace, presented: bytes | str) -> int:
    def run() -> int:
        payload: dict[str, Any] = {"holder_code": args.holder_id}
        if isinstance(presented, str):
            payload["license"] = presented
        else:
            payload["document"] = base64.b64encode(presented).decode()
        with _reader(argparse.Namespace(server=args.online, token=None)) as http:
            verdict = _answer(http.post("/licenses/verify", json=payload))
        return _report(verdict, args.json)

    return client_call(run)


def _max_age(text: str | None) -> int | None:
    """``--max-status-age``: seconds, or a number with ``s``/``m``/``h``/``d``; in µs."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    if not number.isdigit():
        raise ValueError(f"--max-status-age {text!r}: give seconds, or e.g. 30m, 6h, 2d")
    return int(number) * units[unit] * 1_000_000


def _held_lists(settings: Any, list_id: str | None) -> tuple[list[bytes], int | None]:
    """What this node's data directory holds: its trust lists, and the newest version of
    status list ``list_id`` it published or kept from a peer. Nothing when it holds no
    license data (no master key): an offline verify never creates one."""
    from adapters.license_store import LICENSE_DB, open_license_store
    from adapters.vault import MASTER_KEY_FILE

    key_file = settings.data_dir / MASTER_KEY_FILE
    url = settings.resolved_database_url()
    on_sqlite = urlparse(url).scheme not in {"postgresql", "postgres"}
    if not key_file.exists() or (on_sqlite and not (settings.data_dir / LICENSE_DB).exists()):
        return [], None
    store = open_license_store(
        url,
        settings.data_dir,
        key_file.read_bytes(),
        schema=settings.database_schema or None,
    )
    trust = [raw for _, raw, _ in store.trust_lists().values()]
    if list_id is None:
        return trust, None
    published = store.latest_status_list(list_id)
    if published is not None:
        return trust, published[0]
    kept = store.verification_inputs(list_id)[1]
    return trust, None if kept is None else parse_status_list(kept).version


def _verify_offline(args: argparse.Namespace, presented: bytes | str) -> int:
    """Only files and this node's pinned roots, key registry and held lists: no network.

    The lists this node's data directory holds are the floor: a trust list or status list file
    older than the version held here is refused (a rollback to a list that still vouches for
    a since-withdrawn key, or still shows a since-revoked license as valid). The verdict names
    the versions it used.
    """
    settings = _settings(args)
    try:
        max_age = _max_age(args.max_status_age)
    except ValueError as error:
        return fail(str(error))
    roots = read_trusted_roots(settings.data_dir / "trust.json")
    if not roots:
        return fail(f"no pinned roots in {settings.data_dir / 'trust.json'}")
    given_status = Path(args.status_list).read_bytes() if args.status_list else None
    try:
        list_id = None if given_status is None else parse_status_list(given_status).list_id
    except StatusListRejected as error:
        return fail(f"status list refused: {error}", 1)
    held_trust, seen = _held_lists(settings, list_id)
    trust = TrustStore(roots)
    for raw in held_trust:
        try:
            trust.add(raw)
        except TrustListRejected:
            continue  # a held list no pinned root vouches for any more sets no floor
    try:
        for path in args.trust_list or []:
            trust.add(Path(path).read_bytes())
    except TrustListRejected as error:
        if error.reason == "stale":
            return fail(f"trust list refused: older than the version this node holds: {error}", 1)
        return fail(f"trust list refused: {error}", 1)
    own = trust.get(settings.region)
    if own is None:
        return fail(f"give this region's ({settings.region}) trust list with --trust-list")
    status: SignedStatusList | None = None
    if given_status is not None:
        app = open_ledger(settings, read_only=True)
        try:
            app.refresh_registry()
            status = check_status_list(app.registry, given_status)
        except StatusListRejected as error:
            return fail(f"status list refused: {error}", 1)
        finally:
            app.close()
        if seen is not None and status.version < seen:
            return fail(
                f"status list refused: {status.list_id} version {status.version} is older than "
                f"version {seen} this node holds (a rollback; give the newer list)",
                1,
            )
    now = int(datetime.now(BEIJING).timestamp() * 1_000_000)
    verdict = verify_license(
        presented,
        trust=trust,
        recognition=own,
        status=status,
        now=now,
        holder_code=args.holder_id,
        max_status_age=max_age,
    )
    return _report(verdict.to_json(), args.json)


def _verify(args: argparse.Namespace) -> int:
    presented = _presented(args.license)
    if args.offline:
        return _verify_offline(args, presented)
    if not args.online:
        return fail("give --online URL or --offline --trust-list F --status-list F")
    return _verify_online(args, presented)


def _erase(args: argparse.Namespace) -> int:
    services = open_services(_settings(args))
    assert services.licenses is not None
    try:
        services.licenses.erase_documents(args.identifier)
    except LicenseServiceError as error:
        return fail(str(error), 1)
    print(f"license {args.identifier} erased: its documents are unreadable, ledger untouched")
    return 0


def add_license_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``tongban license ...``."""
    group = commands.add_parser("license", help="electronic licenses").add_subparsers(
        dest="license_command", required=True
    )

    def server(parser: argparse.ArgumentParser) -> None:
        server_option(parser)
        parser.add_argument("--token", default=os.environ.get("TONGBAN_TOKEN"))

    def data_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", type=Path, default=None, help="node data directory")
        parser.add_argument("--region", default=None, help="this node's region")

    ident = group.add_parser("id", help="the identifier a case's license gets (before delivery)")
    ident.add_argument("--case", required=True)
    ident.add_argument("--type", required=True, help="license type code (21 characters)")
    ident.add_argument("--issuer-code", required=True, help="the issuing body's USCC")
    ident.set_defaults(handler=guarded(_id))

    issue = group.add_parser("issue", help="issue a case's license (home body, license key)")
    issue.add_argument("case")
    issue.add_argument("--identifier", required=True, help="as `license id` printed")
    connection_options(issue)
    issue.add_argument("--license-key", required=True, type=Path, help="the body's license key")
    issue.add_argument("--face", action="append", help="KEY=VALUE face field (repeatable)")
    issue.add_argument("--valid-from", help="YYYY-MM-DD (default: today, Beijing)")
    issue.add_argument("--valid-until", help="YYYY-MM-DD, '' for 长期 (default: the type's)")
    issue.add_argument("--out-dir", default=".", help="where the document, text and QR go")
    issue.set_defaults(handler=guarded(_issue))

    for action in ("revoke", "suspend", "reinstate"):
        change = group.add_parser(action, help=f"{action} a license (its issuing body)")
        change.add_argument("identifier")
        connection_options(change)
        change.add_argument("--reason", required=True)
        change.set_defaults(handler=guarded(_status_change(action)))

    erase = group.add_parser(
        "erase", help="make a license's documents (holder's name and ID) unreadable for good"
    )
    erase.add_argument("identifier")
    data_dir(erase)
    erase.set_defaults(handler=guarded(_erase))

    show = group.add_parser("show", help="a license's status (its metadata with a grant)")
    show.add_argument("identifier")
    server(show)
    show.add_argument("--grant", help="file holding the holder's grant (base64)")
    show.add_argument("--purpose", default="", help="why (logged by the issuer)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=guarded(_show))

    uses = group.add_parser("uses", help="用证记录: who read a license (issuer, auditor, admin)")
    uses.add_argument("identifier")
    server(uses)
    uses.add_argument("--json", action="store_true")
    uses.set_defaults(handler=guarded(_uses))

    grant = group.add_parser("grant", help="授权用证: the holder lets a region read the license")
    grant.add_argument("identifier")
    server(grant)
    grant.add_argument("--holder-id", required=True, help="the holder's ID, as shown by them")
    grant.add_argument("--audience-region", required=True)
    grant.add_argument("--audience-body", default="")
    grant.add_argument(
        "--scope", default="metadata", help="comma-separated: metadata,face,document"
    )
    grant.add_argument("--purpose", required=True)
    grant.add_argument("--days", type=int, default=30)
    grant.add_argument("--uses", type=int, default=1)
    grant.add_argument("--out", required=True, help="file to write the grant to")
    grant.set_defaults(handler=guarded(_grant))

    qr = group.add_parser("qr", help="a PNG QR code of a compact license")
    qr.add_argument("license", help="the TB1: text or a file holding it")
    qr.add_argument("--out", required=True)
    qr.set_defaults(handler=guarded(_qr))
    scan = group.add_parser(
        "scan", help="read the text of a QR code image (PNG; needs OpenCV: tongban[qr])"
    )
    scan.add_argument("image")
    scan.set_defaults(handler=guarded(_scan))

    verify = group.add_parser("verify", help="verify a license; exit 0 valid, 1 not")
    verify.add_argument("license", help="TB1: text, or a file (compact text or document)")
    verify.add_argument("--online", metavar="URL", help="ask this node (it asks the issuer)")
    verify.add_argument("--offline", action="store_true", help="only the files given")
    verify.add_argument("--trust-list", action="append", help="trust list file (repeatable)")
    verify.add_argument("--status-list", help="the issuer's status list file")
    verify.add_argument("--holder-id", help="the ID the holder shows")
    verify.add_argument(
        "--max-status-age",
        metavar="AGE",
        help="oldest status list accepted, by its issued_at (seconds, or 30m, 6h, 2d); "
        "older leaves the status unknown",
    )
    verify.add_argument("--json", action="store_true")
    data_dir(verify)
    verify.set_defaults(handler=guarded(_verify))

    add_list_commands(group, server=server, data_dir=data_dir)
