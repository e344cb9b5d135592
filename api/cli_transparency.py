"""``tongban witness ...`` and ``tongban audit bundle | verify-bundle``: witnesses and bundles.

::

    tongban witness show        [--data-dir]      the configuration and this node's public key
    tongban witness add-log     --origin O --public-key HEX (--checkpoint FILE | --new-log)
                                                  witness another log from its pinned checkpoint
    tongban witness add-witness --name N --url U --public-key HEX    be witnessed by N
    tongban witness configure   [--name N] [--min-cosignatures K|majority]
    tongban witness push        [--data-dir]      exit 0 all cosigned, 2 some refused but at
                                                  least K did, 1 fewer than K (or none)
    tongban audit bundle --case ID --out FILE [--data-dir]
    tongban audit verify-bundle FILE [--root REGION=HEX ...] [--min-witnesses K]
                                     [--witness NAME=HEX ...] [--log ORIGIN=HEX ...]
                                     [--data-dir]   exit 0 valid, 1 not

``verify-bundle`` needs nothing but the file and the region roots (``--root``, or the
``trust.json`` of ``--data-dir``): no database, no network. It demands the cosignatures of a
majority of the witnesses (``--witness``, or the ``witnesses`` of ``--data-dir``) unless
``--min-witnesses`` (or ``min_cosignatures``) says otherwise; ``0`` is accepted only when
asked for, and the verdict then says that no witness vouched for the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.atomic import write_atomically
from adapters.bootstrap import NODE_KEY_FILE, TRUST_FILE, open_ledger
from adapters.keyfiles import KeyFileError, read_key, read_trusted_roots
from adapters.settings import Settings
from adapters.transparency_config import (
    TransparencyConfig,
    load_transparency_config,
    save_transparency_config,
)
from adapters.witness_client import PushResult, push_checkpoint
from adapters.witness_store import WitnessStoreBackend, WitnessStoreError
from api.cli_common import describe_os_error
from ledger.bundle import BundleInvalid, build_bundle, verify_bundle
from ledger.errors import LedgerError
from ledger.notes import Witness, majority, parse_checkpoint, parse_note
from ledger.suites import check_public_key, suite_of_public_key

EXIT_USAGE = 64
Handler = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "region", None):
        overrides["region"] = args.region
    return Settings(**overrides)


def _config(args: argparse.Namespace) -> tuple[Settings, TransparencyConfig]:
    settings = _settings(args)
    return settings, load_transparency_config(settings.data_dir, region=settings.region)


def _hex_key(value: str, what: str) -> bytes:
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    try:
        check_public_key(suite_of_public_key(key), key)
    except LedgerError:
        raise KeyFileError(
            f"{what}: an Ed25519 public key (32 bytes, 64 hex digits) or an SM2 one "
            "(65 bytes 04 || X || Y, 130 hex digits)"
        ) from None
    return key


def _pairs(values: list[str] | None, what: str) -> dict[str, bytes]:
    """``NAME=HEX`` arguments."""
    found = {}
    for value in values or []:
        name, sep, key = value.partition("=")
        if not sep or not name:
            raise KeyFileError(f"{what} is NAME=HEX, not {value!r}")
        found[name] = _hex_key(key, f"{what} {name}")
    return found


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"tongban: {message}", file=sys.stderr)
    return code


# -- witness ------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    settings, config = _config(args)
    key_file = settings.data_dir / NODE_KEY_FILE
    shown = config.as_json()
    # What another region needs to trust this node as a witness (and as a log).
    shown["node_public_key"] = read_key(key_file).public_key.hex() if key_file.exists() else None
    shown["ledger"] = settings.resolved_ledger_name()
    print(json.dumps(shown, ensure_ascii=False, indent=1))
    return 0


def _evidence(args: argparse.Namespace) -> int:
    """Evidence this witness kept of logs that misbehaved (newest last)."""
    from adapters.witness_store import open_witness_store

    settings = _settings(args)
    store = open_witness_store(
        settings.resolved_database_url(), settings.data_dir, schema=settings.database_schema or None
    )
    try:
        return _show_evidence(args, store, settings.data_dir)
    finally:
        store.close()


def _show_evidence(args: argparse.Namespace, store: WitnessStoreBackend, data_dir: Path) -> int:
    kept = [vars(summary) for summary in store.evidence_list()]
    if args.id:
        document = store.evidence(args.id)
        if document is None:
            return _fail(f"no evidence {args.id}", 1)
        print(json.dumps(document, ensure_ascii=False, indent=1))
    elif args.json:
        print(json.dumps(kept, ensure_ascii=False, indent=1))
    elif not kept:
        # Said in words: an empty listing looks like a command that did nothing.
        print(f"no evidence: no witnessed log has misbehaved ({data_dir})")
    else:
        for summary in kept:
            print(
                f"{summary['kept_at']}  {summary['origin']}  {summary['kind']}  "
                f"{summary['evidence_id']}"
            )
    return 0


def _own_key(settings: Settings) -> bytes | None:
    key_file = settings.data_dir / NODE_KEY_FILE
    return read_key(key_file).public_key if key_file.exists() else None


def _add_log(args: argparse.Namespace) -> int:
    settings, config = _config(args)
    public_key = _hex_key(args.public_key, "--public-key")
    if _own_key(settings) == public_key:
        # This witness cosigns with the node key: its cosignature would be the log's own.
        return _fail("--public-key is this node's own key: a log does not witness itself")
    # Pinned now, so the first push must prove consistency with what the operator saw.
    try:
        pin = "" if args.new_log else Path(args.checkpoint).read_text()
    except OSError as error:
        return _fail(f"--checkpoint: {error}")
    config.add_log(args.origin, public_key, pin)
    path = save_transparency_config(settings.data_dir, config)
    start = "from size 0 (a new log)" if not pin else f"from size {_size(pin)}"
    print(f"witnessing {args.origin} {start} ({path})")
    return 0


def _size(note: str) -> int:
    return parse_checkpoint(parse_note(note).text).size


def _add_witness(args: argparse.Namespace) -> int:
    settings, config = _config(args)
    public_key = _hex_key(args.public_key, "--public-key")
    if _own_key(settings) == public_key:
        return _fail("--public-key is this node's own key: a log does not witness itself")
    config.add_witness(args.name, args.url, public_key)
    path = save_transparency_config(settings.data_dir, config)
    print(f"pushing checkpoints to {args.name} at {args.url} ({path})")
    return 0


def _configure(args: argparse.Namespace) -> int:
    settings, config = _config(args)
    if args.name:
        config.witness_name = args.name
    if args.min_cosignatures is not None:
        if args.min_cosignatures == "majority":
            config.min_cosignatures = None
        elif not args.min_cosignatures.isdigit():
            return _fail("--min-cosignatures is a number >= 0 or 'majority'")
        else:
            config.min_cosignatures = int(args.min_cosignatures)
    save_transparency_config(settings.data_dir, config)
    print(json.dumps(config.as_json(), ensure_ascii=False, indent=1))
    return 0


def _push(args: argparse.Namespace) -> int:
    settings, config = _config(args)
    if not config.witnesses:
        return _fail("no witnesses configured (tongban witness add-witness)")
    app = open_ledger(settings)
    try:
        note = app.latest_checkpoint()
        if note is None or parse_checkpoint(note.text).size != app.store.max_index():
            note = app.issue_checkpoint()  # witnesses should see the ledger as it is now
        results = push_checkpoint(app, config.witnesses)
    finally:
        app.close()
    size = parse_checkpoint(note.text).size
    print(
        json.dumps(
            {
                "checkpoint_size": size,
                "witnesses": [
                    {"witness": r.witness, "outcome": r.outcome, "status": r.status}
                    | ({"detail": r.detail} if r.detail else {})
                    | ({} if r.ok else {"message": explain_push(r)})
                    for r in results
                ],
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    for result in results:
        if not result.ok:
            print(f"tongban: witness {result.witness}: {explain_push(result)}", file=sys.stderr)
    cosigned = sum(r.ok for r in results)
    if cosigned == len(results):
        return 0
    k = majority(len(results)) if config.min_cosignatures is None else config.min_cosignatures
    return 2 if cosigned >= max(k, 1) else 1


def explain_push(result: PushResult) -> str:
    """What a witness's refusal means, in words (its answers: docs/transparency.md)."""
    detail, size = result.detail, result.size
    if result.outcome == "unreachable":
        return f"unreachable, not cosigned ({detail})"
    if result.status == 409 and detail.isascii() and detail.isdigit():
        if int(detail) > size:
            return (
                f"refused: it already cosigned a larger tree of this log (size {detail}) than "
                f"this checkpoint (size {size}); the log lost entries or this checkpoint is old"
            )
        return (
            f"refused: it last cosigned size {detail} of this log and this checkpoint "
            f"(size {size}) does not extend it"
        )
    meaning = {
        400: "the witness found the request malformed",
        403: "the checkpoint's signature is not the key the witness has for this log "
        "(tongban witness add-log there)",
        404: "the witness does not witness this log (tongban witness add-log there)",
        409: "the witness cosigned a different tree of this size; it kept evidence of a fork",
        422: "the consistency proof from the tree it cosigned failed; it kept evidence of a fork",
    }.get(result.status or 0, f"HTTP {result.status}")
    return f"refused: {meaning}" + (f" ({detail})" if detail else "")


# -- bundles ------------------------------------------------------------------------------


def _bundle(args: argparse.Namespace) -> int:
    try:
        case_id = uuid.UUID(args.case)
    except ValueError:
        return _fail(f"--case {args.case!r} is not a case id (UUID)")
    app = open_ledger(_settings(args))
    try:
        bundle = build_bundle(app, case_id)
    finally:
        app.close()
    write_atomically(args.out, json.dumps(bundle, ensure_ascii=False, indent=1) + "\n", mode=0o644)
    size = parse_checkpoint(parse_note(bundle["checkpoint"]).text).size
    print(f"bundle of case {case_id}: {len(bundle['events'])} events, checkpoint size {size}")
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    roots = _pairs(args.root, "--root")
    witnesses = [Witness(name, key) for name, key in _pairs(args.witness, "--witness").items()]
    log_keys = _pairs(args.log, "--log")
    min_witnesses = args.min_witnesses
    if args.data_dir is not None:
        settings = _settings(args)
        roots = {**read_trusted_roots(settings.data_dir / TRUST_FILE), **roots}
        config = load_transparency_config(settings.data_dir, region=settings.region)
        log_keys = {**config.log_keys(), **log_keys}  # the log keys this node witnesses under
        if not witnesses:
            witnesses = config.witness_keys()
            if min_witnesses is None:
                min_witnesses = config.min_cosignatures
    if not roots:
        return _fail("give the region roots: --root REGION=HEX (or --data-dir with trust.json)")
    if min_witnesses is not None and not 0 <= min_witnesses <= len(witnesses):
        return _fail(f"--min-witnesses {min_witnesses} but {len(witnesses)} witnesses given")
    if min_witnesses is None and not witnesses:
        return _fail(
            "no witnesses to demand cosignatures of: give --witness NAME=HEX (a majority of "
            "them must have cosigned), or --min-witnesses 0 to accept a checkpoint no witness "
            "vouched for"
        )
    try:
        bundle = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as error:
        print(f"invalid: unreadable bundle: {error}")
        return 1
    if not isinstance(bundle, dict):
        print("invalid: a bundle is one JSON object")
        return 1
    try:
        report = verify_bundle(
            bundle,
            trusted_roots=roots,
            witnesses=witnesses,
            min_witnesses=min_witnesses,
            log_keys=log_keys,
        )
    except BundleInvalid as error:
        print(f"invalid: {error.reason}: {error.detail}")
        return 1
    cosigners = ", ".join(report.cosigners) or "no witness"
    policy = (
        f"{report.required_cosigners} of {len(witnesses)} witnesses required"
        if report.required_cosigners
        else "NO witness required (--min-witnesses 0): nothing shows that other regions saw "
        "this checkpoint, a split view would go unnoticed"
    )
    print(
        f"valid: case {report.case_id} of {report.ledger}, {report.events} events, "
        f"checkpoint size {report.checkpoint_size}, cosigned by {cosigners}; {policy}"
    )
    return 0


def _guarded(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (KeyFileError, ValueError) as error:
            return _fail(str(error))
        except LedgerError as error:
            return _fail(f"refused: {error.reason}: {error.detail}", 1)
        except WitnessStoreError as error:
            return _fail(str(error), 1)
        except OSError as error:  # a --data-dir or --out that cannot be written or read
            return _fail(describe_os_error(error))

    return run


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    # argparse offers no public way to reach an existing command's subcommands.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(f"{parser.prog} has no subcommands")


def add_transparency_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``witness ...``, and ``bundle`` / ``verify-bundle`` under the existing ``audit``."""

    def data_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
        )
        parser.add_argument("--region", default=None, help="this node's region (TONGBAN_REGION)")

    witness = commands.add_parser(
        "witness", help="witness other regions' logs; push checkpoints to witnesses"
    ).add_subparsers(dest="witness_command", required=True)
    show = witness.add_parser("show", help="print transparency.json and the node public key")
    add_log = witness.add_parser("add-log", help="witness another region's log")
    add_log.add_argument("--origin", required=True, help="the log's origin, e.g. tongban/510000")
    add_log.add_argument("--public-key", required=True, help="the log's node public key, hex")
    start = add_log.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--checkpoint",
        type=Path,
        help="the log's signed checkpoint to start from (e.g. GET /audit/checkpoint), obtained "
        "out of band and compared with its other witnesses'",
    )
    start.add_argument("--new-log", action="store_true", help="the log is new: start from size 0")
    add_witness = witness.add_parser("add-witness", help="push checkpoints to this witness")
    add_witness.add_argument("--name", required=True, help="e.g. tongban/320000/witness")
    add_witness.add_argument("--url", required=True, help="prefix before /add-checkpoint")
    add_witness.add_argument("--public-key", required=True, help="the witness's key, hex")
    configure = witness.add_parser("configure", help="this witness's name; cosignatures needed")
    configure.add_argument("--name", help="the name this node cosigns under")
    configure.add_argument(
        "--min-cosignatures",
        default=None,
        help="cosignatures verify-bundle demands: a number, or 'majority' (the default)",
    )
    push = witness.add_parser("push", help="push the latest checkpoint to every witness")
    evidence = witness.add_parser("evidence", help="evidence this witness kept against logs")
    evidence.add_argument("--id", help="print one evidence document")
    evidence.add_argument("--json", action="store_true", help="list as JSON")
    for parser, handler in (
        (evidence, _evidence),
        (show, _show),
        (add_log, _add_log),
        (add_witness, _add_witness),
        (configure, _configure),
        (push, _push),
    ):
        data_dir(parser)
        parser.set_defaults(handler=_guarded(handler))

    audit = _subparsers(commands.choices["audit"])
    bundle = audit.add_parser("bundle", help="write one case's offline bundle (JSON)")
    data_dir(bundle)
    bundle.add_argument("--case", required=True, help="the case id (UUID)")
    bundle.add_argument("--out", type=Path, required=True, help="the bundle file to write")
    bundle.set_defaults(handler=_guarded(_bundle))
    verify = audit.add_parser(
        "verify-bundle", help="verify a bundle offline; exit 0 valid, 1 invalid"
    )
    verify.add_argument("file", type=Path)
    verify.add_argument(
        "--root", action="append", help="REGION=HEX: a trusted region root (repeat)"
    )
    verify.add_argument("--witness", action="append", help="NAME=HEX: a witness key (repeat)")
    verify.add_argument(
        "--min-witnesses",
        type=int,
        default=None,
        help="cosignatures required (default: a majority of the witnesses; 0 only if asked)",
    )
    verify.add_argument(
        "--log", action="append", help="ORIGIN=HEX: the key that must sign ORIGIN's checkpoint"
    )
    data_dir(verify)
    verify.set_defaults(handler=_guarded(_verify_bundle))
