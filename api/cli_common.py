"""What every ``tongban`` command shares: exit codes and how errors reach the terminal.

Exit codes (the table users read is ``docs/cli.md``): 0 success; 1 refused by the ledger or
a node, a failed check, a node that cannot be reached; 2 only the audit's open policy findings
(``audit verify``) and a witness push some witnesses refused (``witness push``); 64 usage
errors (EX_USAGE): a bad flag, file or value, argparse's own included; 130 interrupted
(Ctrl-C); 141 the reader of standard output went away (``| head -1``), said nowhere.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
from pydantic import ValidationError

from adapters.keyfiles import KeyFileError
from adapters.settings import Settings
from ledger.application import LedgerApplication
from ledger.catalog import CatalogError
from ledger.errors import LedgerError, reason_of

EXIT_USAGE = 64
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `cat` would have died with

# Cases are cross-province cases of China: people read times in Beijing time.
CHINA = timezone(timedelta(hours=8), "+08:00")

Handler = Callable[[argparse.Namespace], int]


def fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"tongban: {message}", file=sys.stderr)
    return code


def missing_ledger(settings: Settings) -> str | None:
    """The SQLite ledger file ``settings`` names when it does not exist, else None (it does,
    or the ledger is on PostgreSQL): a reader or an amendment must never create a ledger."""
    url = settings.resolved_database_url()
    path = url.removeprefix("sqlite:///")
    return path if url.startswith("sqlite:///") and not Path(path).exists() else None


def read_ledger(settings: Settings, read: Callable[[LedgerApplication], int]) -> int:
    """``read`` over the node's ledger opened read-only, only if it has one (exit 64 else)."""
    from adapters.bootstrap import open_ledger

    missing = missing_ledger(settings)
    if missing is not None:
        return fail(f"no ledger at {missing}")
    app = open_ledger(settings, read_only=True)
    try:
        return read(app)
    finally:
        app.close()


def iso_time(micros: int | None) -> str:
    """Epoch microseconds as people read them: ISO 8601 in China time (``...+08:00``)."""
    if micros is None:
        return "-"
    moment = datetime.fromtimestamp(micros / 1_000_000, UTC).astimezone(CHINA)
    return moment.isoformat(timespec="seconds")


def quiet_broken_pipe() -> int:
    """Whoever read our output left (``| head -1``): stop without a traceback.

    Standard output is pointed at /dev/null so that the interpreter's own flush at exit
    does not raise a second time (the recipe of the ``signal`` module's documentation).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def describe_os_error(error: OSError) -> str:
    """``PATH: reason`` rather than ``[Errno 2] No such file or directory: 'PATH'``."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def describe_http_error(error: httpx.HTTPError) -> str:
    """A transport error names the URL it tried, so a wrong port or host shows at once."""
    try:
        url = str(error.request.url)
    except RuntimeError:  # an error raised before any request was made
        return reason_of(error)
    return f"cannot reach {url}: {reason_of(error)}"


def describe_settings_error(error: ValidationError) -> str:
    """``TONGBAN_PORT='abc': Input should be a valid integer``: the variable, not pydantic's."""
    problems = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        problems.append(f"TONGBAN_{name}={problem.get('input')!r}: {problem['msg']}")
    return "configuration: " + "; ".join(problems)


def guarded(handler: Handler) -> Handler:
    """Run a command; usage errors exit 64, ledger refusals and unreachable nodes 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ValidationError as error:  # a ValueError too: the environment's, not a flag's
            return fail(describe_settings_error(error))
        except (KeyFileError, CatalogError, ValueError) as error:
            return fail(str(error))
        except LedgerError as error:
            field = f" (field {error.field})" if error.field else ""
            return fail(f"refused: {error.reason}{field}: {error.detail}", 1)
        except httpx.HTTPError as error:
            return fail(describe_http_error(error), 1)
        except BrokenPipeError:
            raise  # the reader left (`| head`): main() exits quietly, not as a usage error
        except OSError as error:  # a file the user named cannot be read or written
            return fail(describe_os_error(error))

    return run
