"""``tongban case receive | check | mail | arrive | accept | decide | deliver | step``.

A window or a department working from a terminal: each command signs one step with the
officer's key file and posts it to a node (``--server``) through :class:`TongbanClient`. Who
signs: ``--key FILE --body ID --officer ID --token T``, or for the demo node
``--demo var/demo --as OFFICER_ID`` (reads ``demo-keys/index.json`` and ``tokens.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.keyfiles import KeyFileError, read_key
from adapters.settings import Settings
from api.cli_common import (
    EXIT_USAGE,
    describe_os_error,
    describe_settings_error,
    guarded,
    iso_time,
)
from api.client import ClientError, Conflict, Queued, Refused, StepResult, TongbanClient
from ledger.ratings.code import new_rating_code

EXIT_QUEUED = 2  # a step relayed to another region's node and queued there (docs/relay.md)
EXIT_HELD = 3  # relayed, kept, but the home node refused the node's authentication: an operator


def _signer_options(args: argparse.Namespace) -> tuple[Path, str, str, str]:
    """Key file, body, officer and token, from flags or from a demo directory."""
    if args.demo is not None:
        if not args.as_officer:
            raise KeyFileError("--demo needs --as OFFICER_ID")
        index = json.loads((args.demo / "demo-keys" / "index.json").read_text())
        tokens = json.loads((args.demo / "demo-keys" / "tokens.json").read_text())
        for body in index["bodies"]:
            for officer in body["officers"]:
                if officer["officer_id"] == args.as_officer:
                    return (
                        args.demo / officer["key_file"],
                        body["body_id"],
                        officer["officer_id"],
                        tokens["bodies"][body["body_id"]],
                    )
        raise KeyFileError(f"no demo officer {args.as_officer!r} in {args.demo}")
    flags = {"key": "--key", "signer_body": "--signer-body", "officer": "--officer"}
    missing = [
        flag for name, flag in (*flags.items(), ("token", "--token")) if not getattr(args, name)
    ]
    if missing:
        raise KeyFileError("give " + ", ".join(missing) + " (or --demo/--as)")
    return Path(args.key), args.signer_body, args.officer, args.token


def client_from_args(args: argparse.Namespace) -> TongbanClient:
    """The client of the node ``--server`` signing as the officer the options name."""
    key_file, body, officer, token = _signer_options(args)
    return TongbanClient(
        server_url(args), token, read_key(key_file), body_id=body, officer_id=officer
    )


def _print(result: StepResult, **extra: str) -> None:
    print(
        json.dumps(
            {
                **extra,
                "state": "accepted",
                "case_id": str(result.case_id),
                "seq": result.seq,
                "index": result.index,
                "created": result.created,
                "head": result.head.event_hash.hex(),
                "receipt_time": result.receipt.time,
                "received_at": iso_time(result.receipt.time),
            }
        )
    )


def _run(args: argparse.Namespace, action: Any, **extra: str) -> int:
    try:
        with client_from_args(args) as client:
            _print(action(client), **extra)
    except Queued as queued:
        relay = queued.relay
        shown = {
            **extra,
            "state": queued.state,
            "case_id": relay.get("case_id"),
            "seq": relay.get("seq"),
            "step": relay.get("step"),
            "home_ledger": relay.get("home_ledger"),
            "relayed_at": iso_time(relay.get("relayed_at")),
            "relay_receipt": relay.get("relay_receipt"),
        }
        if "signed_on" in queued.document:
            shown["signed_on"] = queued.document["signed_on"]
        print(json.dumps(shown, ensure_ascii=False))
        if "signed_on" in queued.document:
            print(f"tongban: signed on {queued.document['signed_on']}", file=sys.stderr)
        print(f"tongban: {queued.state}: {queued}", file=sys.stderr)
        return EXIT_HELD if queued.state == "held" else EXIT_QUEUED
    except Conflict as conflict:
        print(
            f"tongban: conflict: the case moved on (head is seq {conflict.head.seq}); "
            "look at it again before signing",
            file=sys.stderr,
        )
        return 1
    except Refused as refused:
        return report_refused(refused)
    except ClientError as error:
        print(f"tongban: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"tongban: {describe_os_error(error)}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyFileError, ValueError) as error:
        print(f"tongban: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def report_refused(refused: Refused) -> int:
    """``tongban: refused STATUS REASON (field F): detail`` on stderr; exit code 1."""
    field = f" (field {refused.field})" if refused.field else ""
    print(
        f"tongban: refused {refused.status} {refused.reason}{field}: "
        f"{refused.problem.get('detail', '')}",
        file=sys.stderr,
    )
    return 1


def _materials(values: list[str]) -> list[tuple[str, bytes]]:
    """``NAME=FILE``: the file's SHA-256 goes into the ledger, the file stays with you."""
    materials = []
    for value in values:
        name, _, path = value.partition("=")
        if not name or not path:
            raise ValueError(f"--material {value!r}: write NAME=FILE")
        materials.append((name, hashlib.sha256(Path(path).read_bytes()).digest()))
    return materials


def _receive(args: argparse.Namespace) -> int:
    applicant = {"name": args.applicant_name, "id_number": args.applicant_id}
    if args.applicant_phone:
        applicant["phone"] = args.applicant_phone
    # The one-time rating code for the receipt slip: printed here, only its commitment signed.
    code = new_rating_code()
    return _run(
        args,
        lambda c: c.receive(
            args.item,
            args.channel,
            applicant,
            home_body=args.home_body,
            jurisdiction=args.jurisdiction,
            materials=_materials(args.material),
            origin_bodies=args.origin or (),
            rating_code=code,
            ledger=args.ledger,
        ),
        rating_code=code,
    )


def _case_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a case id (UUID)") from None


def _step(step_type: str, body_of: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        case_id = _case_id(args.case)
        return _run(args, lambda c: c.step(case_id, step_type, body_of(args)))

    return guarded(handler)


def _generic(args: argparse.Namespace) -> int:
    case_id = _case_id(args.case)
    try:
        body = json.loads(args.body_json)
    except ValueError as error:
        raise ValueError(f"--body-json is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValueError("--body-json is the step's body, a JSON object ({...})")
    return _run(args, lambda c: c.step(case_id, args.type, body))


def server_option(parser: argparse.ArgumentParser) -> None:
    """``--server URL``; its default is resolved when the command runs (:func:`server_url`)."""
    parser.add_argument(
        "--server",
        default=None,
        help="the node's URL (default: TONGBAN_SERVER, else http://TONGBAN_HOST:TONGBAN_PORT)",
    )


def server_url(args: argparse.Namespace) -> str:
    """``--server``, else ``TONGBAN_SERVER``, else the node the settings configure."""
    if args.server:
        return str(args.server)
    try:
        return Settings().client_url()
    except ValidationError as error:  # said as the variable, by the handlers of ValueError
        raise ValueError(describe_settings_error(error)) from None


class _DeprecatedBody(argparse.Action):
    """``--body ID``: the old name of ``--signer-body``; still works, with a warning."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, *_: Any
    ) -> None:
        print("tongban: --body is deprecated: write --signer-body", file=sys.stderr)
        setattr(namespace, self.dest, values)


class _AmbiguousBody(argparse.Action):
    """On ``case step``, ``--body`` could be the officer's body or the step's: refuse it."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, *_: Any
    ) -> None:
        parser.error(
            "--body is ambiguous here: --signer-body ID names the officer's body, "
            "--body-json JSON is the step's content"
        )


def connection_options(parser: argparse.ArgumentParser, *, ambiguous_body: bool = False) -> None:
    """Where to post and who signs: a node URL, a token, an officer's key (or a demo)."""
    server_option(parser)
    parser.add_argument(
        "--token",
        default=os.environ.get("TONGBAN_TOKEN"),
        help="the body's API token (TONGBAN_TOKEN)",
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("TONGBAN_KEY_FILE"),
        help="the officer's key file (TONGBAN_KEY_FILE)",
    )
    parser.add_argument("--signer-body", help="the officer's body id")
    # ``--body`` was this option's first name; on ``case step`` it reads as the step's body.
    parser.add_argument(
        "--body",
        dest="signer_body",
        action=_AmbiguousBody if ambiguous_body else _DeprecatedBody,
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--officer", help="the officer id")
    parser.add_argument("--demo", type=Path, help="a demo data directory (var/demo)")
    parser.add_argument("--as", dest="as_officer", help="with --demo: the officer id")


def add_client_commands(case: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the signing commands to the ``case`` subcommand group."""

    receive = case.add_parser("receive", help="open a case: store the applicant, sign received")
    connection_options(receive)
    receive.add_argument("--item", required=True, help="catalog item key, e.g. 510000/2/23")
    receive.add_argument("--channel", required=True, choices=("online", "proxy", "direct"))
    receive.add_argument("--home-body", required=True, help="the body that decides")
    receive.add_argument("--jurisdiction", required=True, help="6-digit division code")
    receive.add_argument("--origin", action="append", help="origin body (joint items)")
    receive.add_argument(
        "--ledger",
        default=None,
        help="the case's home ledger (default: the item's region's, tongban/<region>)",
    )
    receive.add_argument("--applicant-name", required=True)
    receive.add_argument("--applicant-id", required=True, help="resident ID number")
    receive.add_argument("--applicant-phone", default="")
    receive.add_argument(
        "--material",
        action="append",
        default=[],
        required=True,
        help="NAME=FILE (its SHA-256 is signed; repeatable)",
    )
    receive.set_defaults(handler=guarded(_receive))

    steps: list[tuple[str, str, str, Any, list[tuple[tuple[str, ...], dict[str, Any]]]]] = [
        (
            "check",
            "form_checked",
            "形式审查 and 身份核验",
            lambda a: {"result": a.result, "reasons": a.reason or [], "identity_verified": True},
            [
                (
                    ("--result",),
                    {"choices": ("pass", "needs_supplement", "refused"), "default": "pass"},
                ),
                (("--reason",), {"action": "append"}),
            ],
        ),
        (
            "mail",
            "mailed",
            "the file or the result is posted",
            lambda a: {"leg": a.leg, "courier": a.courier, "tracking_number": a.tracking},
            [
                (
                    ("--leg",),
                    {
                        "required": True,
                        "choices": ("window_to_home", "home_to_window", "home_to_applicant"),
                    },
                ),
                (("--courier",), {"default": "EMS"}),
                (("--tracking",), {"required": True}),
            ],
        ),
        (
            "arrive",
            "arrived",
            "the mailed file arrived",
            lambda a: {"note": a.note},
            [(("--note",), {"default": ""})],
        ),
        (
            "accept",
            "accepted",
            "受理: the home body accepts (the time limit starts)",
            lambda a: {"note": a.note},
            [(("--note",), {"default": ""})],
        ),
        (
            "decide",
            "decided",
            "the home body decides",
            lambda a: {"result": a.result, "reasons": a.reason or [], "basis": a.basis},
            [
                (("--result",), {"required": True, "choices": ("approved", "rejected")}),
                (("--basis",), {"required": True, "help": "legal basis"}),
                (("--reason",), {"action": "append"}),
            ],
        ),
        (
            "deliver",
            "delivered",
            "the result reaches the applicant",
            lambda a: {"method": a.method, "results": a.result_ref or []},
            [
                (("--method",), {"required": True, "choices": ("online", "post", "at_window")}),
                (("--result-ref",), {"action": "append", "help": "e.g. a license identifier"}),
            ],
        ),
    ]
    for name, step_type, help_text, body_of, options in steps:
        parser = case.add_parser(name, help=f"sign `{step_type}`: {help_text}")
        parser.add_argument("case", help="the case id")
        connection_options(parser)
        for flags, kwargs in options:
            parser.add_argument(*flags, **kwargs)
        parser.set_defaults(handler=_step(step_type, body_of))

    generic = case.add_parser("step", help="sign any step type with a JSON body")
    generic.add_argument("case")
    generic.add_argument("--type", required=True)
    generic.add_argument("--body-json", required=True, help="the step's body, a JSON object")
    connection_options(generic, ambiguous_body=True)
    generic.set_defaults(handler=guarded(_generic))
