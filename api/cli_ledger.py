"""``tongban init | keys | audit | applicant``: a node administrator's commands.

They work on the node's data directory directly (``--data-dir`` or ``TONGBAN_DATA_DIR``).
Keys other than the node's own are read from files their holders point at; none is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from adapters.applicants import open_node_applicants
from adapters.bootstrap import TRUST_FILE, check_database, open_ledger
from adapters.crypto_profile import (
    GUOMI,
    INTERNATIONAL,
    ProfileMismatch,
    check_node_key,
    crypto_profile,
    profile_of_suite,
    profile_origin,
)
from adapters.datadir import require_node
from adapters.keyfiles import (
    KeyFileError,
    key_passphrase,
    read_key,
    read_trusted_roots,
    write_encrypted_key,
    write_key,
    write_trusted_roots,
)
from adapters.settings import Settings
from adapters.vault import MASTER_KEY_FILE, VaultError, load_or_create_master_key, open_vault
from api.cli_common import fail as _fail
from api.cli_common import guarded as _guarded
from api.cli_common import iso_time, missing_ledger
from ledger.admin import RegistryClerk
from ledger.application import LedgerApplication
from ledger.audit import AuditReport, Finding, verify_case, verify_ledger
from ledger.canonical import micros
from ledger.errors import LedgerError
from ledger.suites import (
    SOFTWARE_SIGNERS,
    check_public_key,
    generate_signer,
    key_id,
    suite_of_public_key,
)
from ledger.transparency import NotAnExtension


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "region", None):
        overrides["region"] = args.region
    return Settings(**overrides)


def _ledger(args: argparse.Namespace) -> LedgerApplication:
    """The ledger of an initialised node (never a new one in a mistyped directory)."""
    settings = _settings(args)
    require_node(settings)
    return open_ledger(settings)


def _public_key(args: argparse.Namespace, key_file: str, hex_key: str) -> bytes:
    if getattr(args, key_file, None):
        return read_key(Path(getattr(args, key_file))).public_key
    value = getattr(args, hex_key, None)
    if not value:
        raise KeyFileError(f"give --{key_file.replace('_', '-')} or --{hex_key.replace('_', '-')}")
    return _hex_public_key(value, f"--{hex_key.replace('_', '-')}")


def _hex_public_key(value: str, flag: str) -> bytes:
    """A public key given in hex on the command line: Ed25519, or SM2 ``04 || X || Y``."""
    try:
        key = bytes.fromhex(value)
        check_public_key(suite_of_public_key(key), key)
    except (ValueError, LedgerError):
        raise KeyFileError(
            f"{flag} {value!r}: an Ed25519 public key is 32 bytes (64 hex digits), an SM2 one "
            "65 bytes 04 || X || Y on the curve (130 hex digits)"
        ) from None
    return key


def _parse_time(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-01-05T08:00:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return micros(moment)


# -- commands -----------------------------------------------------------------------------


def _keys_generate(args: argparse.Namespace) -> int:
    # Without --suite, the suite of the node's profile (TONGBAN_CRYPTO_PROFILE, or what the
    # node.json of TONGBAN_DATA_DIR records): a guomi node's new keys are SM2.
    signer = generate_signer(args.suite or crypto_profile(Settings()).key_suite)
    if args.out.exists():
        return _fail(f"{args.out} exists; refusing to overwrite a key")
    try:
        if args.passphrase:
            write_encrypted_key(args.out, signer, key_passphrase(args.out, confirm=True))
        else:
            write_key(args.out, signer)
    except FileExistsError:
        return _fail(f"{args.out} exists; refusing to overwrite a key")
    print(
        json.dumps(
            {
                "file": str(args.out),
                "suite": signer.suite,
                "kid": signer.key_id,
                "public_key": signer.public_key.hex(),
            }
        )
    )
    return 0


def _init_profile(args: argparse.Namespace, settings: Settings, root_suite: str) -> None:
    """Give the node the profile of its root's suite, unless one was chosen; refuse a chosen
    one (``--crypto-profile``, ``TONGBAN_CRYPTO_PROFILE``, ``node.json``) of the other suite."""
    follows = profile_of_suite(root_suite)
    if args.crypto_profile:
        origin = f"--crypto-profile {args.crypto_profile}"
    elif "crypto_profile" in settings.model_fields_set:
        origin = profile_origin(settings)
    else:
        settings.crypto_profile = follows
        return
    if settings.crypto_profile != follows:
        raise ProfileMismatch(
            f"{args.root_key} is an {root_suite} root key, but the crypto profile is "
            f"{settings.crypto_profile} ({origin}), whose node key would be "
            f"{crypto_profile(settings).key_suite}: a node signs in the suite of its region's "
            f"root; give --crypto-profile {follows} (or leave the profile unset: init then "
            "takes the root's)"
        )


def _init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.crypto_profile:
        settings.crypto_profile = args.crypto_profile
    # A missing schema is refused before trust.json is written (no half-made data directory).
    check_database(settings.resolved_database_url(), settings.database_schema or None)
    root = read_key(args.root_key)
    _init_profile(args, settings, root.suite)
    check_node_key(settings)  # a node.key already there is of the profile's suite
    trust_path = settings.data_dir / TRUST_FILE
    roots = read_trusted_roots(trust_path)
    if roots.get(settings.region, root.public_key) != root.public_key:
        return _fail(f"{trust_path} already trusts another root for region {settings.region}")
    roots[settings.region] = root.public_key
    write_trusted_roots(trust_path, roots)
    settings.record_region()
    app = open_ledger(settings)
    node = app.node_signer
    assert node is not None  # opened read-write
    clerk = RegistryClerk(app, settings.region)
    seq, _ = app.registry.head(settings.region)
    # The node key signs the receipt of the very first record, so it is valid from then on.
    start = app.clock()
    if seq == 0:
        clerk.establish_root(root, valid_from=start)
    if node.key_id not in app.registry.keys:
        clerk.certify_node(root, node.public_key, args.node_id, valid_from=start)
    print(
        json.dumps(
            {
                "ledger": app.ledger_name,
                "region": settings.region,
                "root_kid": root.key_id,
                "node_kid": node.key_id,
                # What the other region's node names in `tongban relay add-peer --key`.
                "node_public_key": node.public_key.hex(),
            }
        )
    )
    return 0


def _keys_trust(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = settings.data_dir / TRUST_FILE
    roots = read_trusted_roots(path)
    key = _hex_public_key(args.public_key, "--public-key")
    roots[args.trust_region] = key
    write_trusted_roots(path, roots)
    print(f"trusting region {args.trust_region} root {key.hex()}")
    return 0


def _keys_register_body(args: argparse.Namespace) -> int:
    app = _ledger(args)
    clerk = RegistryClerk(app, _settings(args).region)
    try:
        org = json.loads(args.org) if args.org else {}
    except ValueError as error:
        raise ValueError(f"--org is not JSON: {error}") from None
    if not isinstance(org, dict):
        raise ValueError('--org is a JSON object, e.g. \'{"division":"510104"}\'')
    appended = clerk.register_body(
        read_key(args.root_key),
        args.body_id,
        args.name,
        _public_key(args, "body_key", "body_public_key"),
        org=org,
    )
    print(json.dumps({"index": appended.index, "seq": appended.seq}))
    return 0


def _keys_certify_officer(args: argparse.Namespace) -> int:
    app = _ledger(args)
    clerk = RegistryClerk(app, _settings(args).region)
    appended = clerk.certify_officer(
        read_key(args.body_key),
        args.body_id,
        args.officer_id,
        _public_key(args, "officer_key", "officer_public_key"),
        device=args.device,
    )
    print(json.dumps({"index": appended.index, "seq": appended.seq}))
    return 0


def _keys_certify_license_key(args: argparse.Namespace) -> int:
    app = _ledger(args)
    clerk = RegistryClerk(app, _settings(args).region)
    public_key = _public_key(args, "license_key", "license_public_key")
    appended = clerk.certify_license_key(read_key(args.root_key), args.body_id, public_key)
    kid = key_id(suite_of_public_key(public_key), public_key)
    print(json.dumps({"index": appended.index, "seq": appended.seq, "kid": kid}))
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    compromised_since = _parse_time(args.compromised_since)  # before opening anything
    app = _ledger(args)
    clerk = RegistryClerk(app, _settings(args).region)
    appended = clerk.revoke(
        read_key(args.signer_key),
        args.kid,
        compromised_since=compromised_since,
        reason=args.reason,
    )
    print(json.dumps({"index": appended.index, "seq": appended.seq}))
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    require_node(settings)
    app = open_ledger(settings, read_only=True)  # a reader: works on a read-only snapshot
    app.refresh_registry()
    rows = [
        {
            "kid": k.kid,
            "role": k.role,
            "region": k.region,
            "owner": k.owner,
            "officer": k.officer_id,
            "valid_from": k.valid_from,
            "valid_until": k.valid_until,
            "compromised_since": k.compromised_since,
        }
        for k in app.registry.keys.values()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        _print_keys(rows)
    return 0


def _print_keys(rows: list[dict[str, Any]]) -> None:
    """For people: one line per key, times in China time (the JSON keeps microseconds)."""
    for row in rows:
        until = iso_time(row["valid_until"]) if row["valid_until"] else "open"
        compromised = row["compromised_since"]
        status = f"compromised since {iso_time(compromised)}" if compromised else ""
        officer = f" {row['officer']}" if row["officer"] else ""
        print(
            f"{row['kid']}  {row['role']:<8} {row['region']}  {row['owner']}{officer}  "
            f"{iso_time(row['valid_from'])} .. {until}  {status}".rstrip()
        )


class _Progress:
    """A one-line progress counter on stderr (a terminal, or ``--progress``).

    ``total`` counts every stored object; the audit reports case events only (the registry's
    are checked first, at once), so the last redraw is :meth:`finish`'s.
    """

    def __init__(self, total: int):
        self.total = max(total, 1)
        self.done = 0

    def __call__(self, count: int) -> None:
        before, self.done = self.done, self.done + count
        # Redrawn each time a thousand more are done (counts come one by one, or a part's at once).
        if before // 1000 != self.done // 1000 or self.done >= self.total:
            self._draw(self.done, self.total)

    def finish(self) -> None:
        self._draw(self.done, self.done)
        print(file=sys.stderr)

    @staticmethod
    def _draw(done: int, total: int) -> None:
        width = 30
        filled = min(width, width * done // max(total, 1))
        bar = "#" * filled + "." * (width - filled)
        print(f"\r[{bar}] {done}/{total} events", end="", file=sys.stderr, flush=True)


def _where(found: Finding) -> str:
    """Where a finding is: a case's step, a whole case, or the ledger itself (no case)."""
    if not found.case_id:
        return "ledger"
    if found.seq:
        return f"case {found.case_id} seq {found.seq}"
    return f"case {found.case_id}"


def _audit_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if (missing := missing_ledger(settings)) is not None:
        return _fail(f"no ledger at {missing}")
    if args.jobs < 1:
        return _fail(f"--jobs {args.jobs} must be at least 1")
    if args.case and args.jobs > 1:
        return _fail("--jobs is for the whole ledger; --case checks one case in one process")
    app = open_ledger(settings, read_only=True)
    # The node's applicants, when this is the node's own data directory (its vault key):
    # then each case's applicant is checked too (docs/audit.md, applicant findings).
    reopen_applicants = (
        partial(
            open_node_applicants,
            settings.resolved_database_url(),
            settings.data_dir,
            schema=settings.database_schema or None,
            read_only=True,
        )
        if (settings.data_dir / MASTER_KEY_FILE).exists()
        else None
    )
    applicants = reopen_applicants() if reopen_applicants is not None else None
    report: AuditReport
    if args.case:
        try:
            case_id = uuid.UUID(args.case)
        except ValueError:
            return _fail(f"--case {args.case!r} is not a case id (UUID)")
        report = verify_case(app, case_id, applicants=applicants)
        if report.events == 0 and report.ok:
            # Nothing stored under that id: "clean" would vouch for a case never checked. (A
            # case whose rows were deleted shows in the whole ledger's audit: missing_from_tree.)
            return _fail(
                f"no case {case_id} in this ledger: nothing verified (check the id; "
                "`tongban audit verify` without --case audits every stored event)",
                1,
            )
    else:
        shown = args.progress or sys.stderr.isatty()
        progress = _Progress(app.store.max_index()) if shown else None
        # Each worker process opens the same ledger read-only from the same settings.
        reopen = partial(open_ledger, settings, read_only=True)
        report = verify_ledger(
            app,
            progress=progress,
            jobs=args.jobs,
            reopen=reopen,
            applicants=applicants,
            reopen_applicants=reopen_applicants,
        )
        if progress is not None:
            progress.finish()
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    else:
        verdict = "clean" if report.ok else "FINDINGS"
        print(
            f"{verdict}: {report.events} events in {report.cases} cases, "
            f"{len(report.findings)} findings"
        )
        for found in report.findings:
            resolved = f" ({found.resolution})" if found.resolution else ""
            print(f"  [{found.kind}] {_where(found)}: {found.reason}{resolved} — {found.detail}")
    return report.exit_code


def _audit_checkpoint(args: argparse.Namespace) -> int:
    try:
        note = _ledger(args).issue_checkpoint(accept_rollback=args.accept_rollback)
    except NotAnExtension as refused:
        # The evidence: what the node signed last, in full, and the tree it was asked to sign.
        print(refused.signed, end="", file=sys.stderr)
        print(
            "tongban: see docs/transparency.md, 'A database older than the last checkpoint'",
            file=sys.stderr,
        )
        raise
    if args.accept_rollback is not None:
        print(
            f"tongban: ROLLBACK ACCEPTED: the checkpoint of size {args.accept_rollback} was set "
            "aside (last-checkpoint.*.set-aside.note in the data directory); witnesses that "
            "cosigned it will refuse this one",
            file=sys.stderr,
        )
    print(note.render(), end="")
    return 0


def _applicant_erase(args: argparse.Namespace) -> int:
    settings = _settings(args)
    vault = open_vault(
        settings.resolved_database_url(),
        settings.data_dir,
        load_or_create_master_key(settings.data_dir),
        schema=settings.database_schema or "public",  # where the node keeps it (bootstrap)
    )
    try:
        vault.erase(args.ref, now=datetime.now(UTC), reason=args.reason)
    except VaultError as error:
        return _fail(str(error), 1)
    print(f"applicant {args.ref} erased: personal data unreadable, ledger untouched")
    return 0


def add_ledger_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def data_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
        )
        parser.add_argument("--region", default=None, help="this node's region (TONGBAN_REGION)")

    init = commands.add_parser("init", help="set up a node: trust its root, certify its key")
    data_dir(init)
    init.add_argument("--root-key", type=Path, required=True, help="the region root's key file")
    init.add_argument("--node-id", default="node-1", help="name of this node")
    init.add_argument(
        "--crypto-profile",
        choices=(INTERNATIONAL, GUOMI),
        default=None,
        help="the node's crypto profile (docs/keys.md §8); default TONGBAN_CRYPTO_PROFILE, else "
        "the root key's: guomi for an SM2 root, international for an Ed25519 one. A profile "
        "whose node key would be of another suite than the root is refused",
    )
    init.set_defaults(handler=_guarded(_init))

    keys = commands.add_parser("keys", help="the key registry").add_subparsers(
        dest="keys_command", required=True
    )
    generate = keys.add_parser(
        "generate", help="write a new key file (mode 0600): Ed25519, or SM2 with --suite sm2-sm3"
    )
    generate.add_argument("out", type=Path)
    generate.add_argument(
        "--suite",
        choices=sorted(SOFTWARE_SIGNERS),
        default=None,
        help="the key's signature suite: ed25519-sha256, or sm2-sm3 for SM2 with SM3, "
        "signer ID 1234567812345678 (default: the crypto profile's, TONGBAN_CRYPTO_PROFILE: "
        "ed25519-sha256 unless guomi)",
    )
    generate.add_argument(
        "--passphrase",
        action="store_true",
        help="encrypt the key file with a passphrase (TONGBAN_KEY_PASSPHRASE, else asked); "
        "every command reading it then needs the passphrase the same way",
    )
    generate.set_defaults(handler=_guarded(_keys_generate))

    trust = keys.add_parser("trust", help="trust another region's root public key")
    data_dir(trust)
    trust.add_argument("--trust-region", required=True)
    trust.add_argument("--public-key", required=True, help="hex")
    trust.set_defaults(handler=_guarded(_keys_trust))

    body = keys.add_parser("register-body", help="register a body under the region root")
    data_dir(body)
    body.add_argument("--root-key", type=Path, required=True)
    body.add_argument("--body-id", required=True)
    body.add_argument("--name", required=True)
    body.add_argument("--body-key", help="the body's key file (only its public key is used)")
    body.add_argument("--body-public-key", help="or the body's public key, hex")
    body.add_argument("--org", help="organization data as JSON")
    body.set_defaults(handler=_guarded(_keys_register_body))

    officer = keys.add_parser("certify-officer", help="certify an officer's key with the body key")
    data_dir(officer)
    officer.add_argument("--body-key", type=Path, required=True)
    officer.add_argument("--body-id", required=True)
    officer.add_argument("--officer-id", required=True)
    officer.add_argument("--officer-key", help="the officer's key file (public key used)")
    officer.add_argument("--officer-public-key", help="or the officer's public key, hex")
    officer.add_argument(
        "--device",
        help="the officer's device this key is for (a key beside the officer's others); "
        "certifying a device again replaces its key",
    )
    officer.set_defaults(handler=_guarded(_keys_certify_officer))

    license_key = keys.add_parser(
        "certify-license-key", help="certify a key a body signs its licenses with (root)"
    )
    data_dir(license_key)
    license_key.add_argument("--root-key", type=Path, required=True)
    license_key.add_argument("--body-id", required=True)
    license_key.add_argument("--license-key", help="the license key file (public key used)")
    license_key.add_argument("--license-public-key", help="or its public key, hex")
    license_key.set_defaults(handler=_guarded(_keys_certify_license_key))

    revoke = keys.add_parser("revoke", help="revoke a key compromised since a time")
    data_dir(revoke)
    revoke.add_argument(
        "--signer-key",
        type=Path,
        required=True,
        help="the root key, or for an officer key its body's key",
    )
    revoke.add_argument("--kid", required=True)
    revoke.add_argument("--compromised-since", required=True, help="ISO 8601 time (UTC default)")
    revoke.add_argument("--reason", default="")
    revoke.set_defaults(handler=_guarded(_keys_revoke))

    listing = keys.add_parser("list", help="the registry's keys: role, owner, validity")
    data_dir(listing)
    listing.add_argument(
        "--json", action="store_true", help="print JSON (times in epoch microseconds)"
    )
    listing.set_defaults(handler=_guarded(_keys_list))

    audit = commands.add_parser("audit", help="verify the ledger").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="verify every chain; exit 0 clean, 1 integrity finding, 2 open policy findings",
    )
    data_dir(verify)
    verify.add_argument("--case", help="only this case (UUID)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (never on stdout)",
    )
    verify.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="check the cases in N processes (the same report as with 1)",
    )
    verify.set_defaults(handler=_guarded(_audit_verify))
    checkpoint = audit.add_parser(
        "checkpoint", help="issue a signed checkpoint of the whole ledger now and print it"
    )
    data_dir(checkpoint)
    checkpoint.add_argument(
        "--accept-rollback",
        type=int,
        metavar="SIZE",
        help="after restoring an older database backup: sign the tree as it is although the "
        "node signed a checkpoint of SIZE (the size the refusal names) it does not extend; "
        "logged, and the old checkpoint kept (docs/transparency.md)",
    )
    checkpoint.set_defaults(handler=_guarded(_audit_checkpoint))

    applicant = commands.add_parser("applicant", help="applicants' personal data").add_subparsers(
        dest="applicant_command", required=True
    )
    erase = applicant.add_parser("erase", help="destroy an applicant's keys (PIPL erasure)")
    data_dir(erase)
    erase.add_argument("ref", help="the applicant reference (ap_...)")
    erase.add_argument("--reason", default="applicant request")
    erase.set_defaults(handler=_guarded(_applicant_erase))
