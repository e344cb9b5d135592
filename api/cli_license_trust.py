"""``tongban license trust-list | status-list | fetch``: the lists by which regions trust each
other's licenses. ``trust-list publish`` and ``fetch`` work on a node's data directory, as
``tongban keys`` does; ``trust-list get`` and ``status-list get`` save a node's list to a file.

Also the two helpers the other license commands (``api.cli_licenses``) share with these.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from adapters.atomic import write_atomically
from adapters.bootstrap import open_services
from adapters.keyfiles import KeyFileError, read_key
from adapters.peers import http_fetch
from api.cli_client import report_refused, server_url
from api.cli_common import EXIT_USAGE, describe_http_error, fail, guarded
from api.cli_ledger import _settings
from api.client import ClientError, Refused
from licenses.errors import LicenseError
from licenses.status import StatusListRejected, parse_status_list
from licenses.trust import BEIJING, TrustListRejected, parse_trust_list
from licenses.trust_lists import sign_trust_list

__all__ = ["add_list_commands", "client_call", "parse_pairs"]

#: How a command adds its shared options (``--server``/``--token``, ``--data-dir``/``--region``).
AddOptions = Callable[[argparse.ArgumentParser], None]


def client_call(action: Callable[[], int]) -> int:
    try:
        return action()
    except Refused as refused:
        return report_refused(refused)
    except ClientError as error:
        return fail(f"{error}", 1)
    except httpx.HTTPError as error:
        return fail(describe_http_error(error), 1)
    except (KeyFileError, OSError, ValueError, LicenseError) as error:
        return fail(str(error), EXIT_USAGE)


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {value!r}: write KEY=VALUE")
        pairs[key] = text
    return pairs


# -- trust and status lists --------------------------------------------------------------------


def _publish_trust_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    root = read_key(args.root_key)
    recognition: dict[str, list[str]] = {}
    for type_code, regions in parse_pairs(args.accept, "--accept").items():
        recognition[type_code] = sorted(set(regions.split(",")))
    services = open_services(settings)
    assert services.licenses is not None
    held = services.licenses.store.trust_lists().get(settings.region)
    now = int(datetime.now(BEIJING).timestamp() * 1_000_000)
    services.ledger.refresh_registry()
    try:
        raw = sign_trust_list(
            services.ledger.registry,
            root,
            region=settings.region,
            version=held[0] + 1 if held else 1,
            issued_at=now,
            valid_until=now + args.days * 86_400_000_000,
            issuer_codes=parse_pairs(args.issuer_code, "--issuer-code"),
            recognition=recognition,
        )
    except TrustListRejected as error:  # what --issuer-code and --accept said is malformed
        return fail(f"trust list not signed: {error}")
    published = services.licenses.publish_trust_list(raw)
    keys = [entry.kid for entry in published.license_keys]
    print(
        json.dumps({"region": published.region, "version": published.version, "license_keys": keys})
    )
    return 0


def _fetch(args: argparse.Namespace) -> int:
    services = open_services(_settings(args))
    assert services.licenses is not None
    try:
        print(json.dumps(services.licenses.fetch_peer(args.server, args.list or ())))
    except (TrustListRejected, StatusListRejected, OSError) as error:
        return fail(f"refused: {error}", 1)
    return 0


def _get(path: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        return client_call(lambda: fetch(args))

    def fetch(args: argparse.Namespace) -> int:
        url = server_url(args).rstrip("/") + path.format(**vars(args))
        try:
            raw = http_fetch(url)
        except OSError as error:
            return fail(str(error), 1)
        write_atomically(Path(args.out), raw, mode=0o644)
        if "status-lists" in path:
            status = parse_status_list(raw)
            print(json.dumps({"file": args.out, "list": status.list_id, "version": status.version}))
        else:
            trust = parse_trust_list(raw)
            print(json.dumps({"file": args.out, "region": trust.region, "version": trust.version}))
        return 0

    return handler


def add_list_commands(
    group: argparse._SubParsersAction,  # type: ignore[type-arg]
    *,
    server: AddOptions,
    data_dir: AddOptions,
) -> None:
    """Add ``trust-list``, ``status-list`` and ``fetch`` to ``tongban license``."""
    trust = group.add_parser("trust-list", help="trust lists").add_subparsers(
        dest="trust_command", required=True
    )
    publish = trust.add_parser("publish", help="sign this region's list with its root; publish")
    data_dir(publish)
    publish.add_argument("--root-key", type=Path, required=True)
    publish.add_argument("--issuer-code", action="append", help="BODY=USCC (repeatable)")
    publish.add_argument(
        "--accept", action="append", help="TYPE=REGION[,REGION] this region accepts (repeatable)"
    )
    publish.add_argument("--days", type=int, default=30, help="how long the list speaks")
    publish.set_defaults(handler=guarded(_publish_trust_list))
    get_trust = trust.add_parser("get", help="save a node's trust list to a file")
    server(get_trust)
    get_trust.add_argument("--out", required=True)
    get_trust.set_defaults(handler=guarded(_get("/trust-list")))

    status = group.add_parser("status-list", help="status lists").add_subparsers(
        dest="status_command", required=True
    )
    get_status = status.add_parser("get", help="save a node's status list to a file")
    server(get_status)
    get_status.add_argument("--list", required=True, help="list id, e.g. 510000-1")
    get_status.add_argument("--out", required=True)
    get_status.set_defaults(handler=guarded(_get("/status-lists/{list}")))

    fetch = group.add_parser(
        "fetch", help="a node takes a peer's key records, trust list and status lists"
    )
    data_dir(fetch)
    fetch.add_argument("--server", required=True, help="the peer node's URL")
    fetch.add_argument("--list", action="append", help="status list id to fetch (repeatable)")
    fetch.set_defaults(handler=guarded(_fetch))
