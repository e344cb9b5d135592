"""What every ``tongban`` command shares: exit codes and how errors reach the terminal.

Exit codes: 0 success; 1 refused by the ledger or a failed check; 2 the audit's open policy
findings (``audit verify`` only); 64 usage errors (EX_USAGE): a bad flag, file or value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from adapters.keyfiles import KeyFileError
from ledger.catalog import CatalogError
from ledger.errors import LedgerError

EXIT_USAGE = 64

Handler = Callable[[argparse.Namespace], int]


def fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"tongban: {message}", file=sys.stderr)
    return code


def guarded(handler: Handler) -> Handler:
    """Run a command; usage errors exit 64, ledger refusals 1 with reason and field."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (KeyFileError, CatalogError, ValueError) as error:
            return fail(str(error))
        except LedgerError as error:
            field = f" (field {error.field})" if error.field else ""
            return fail(f"refused: {error.reason}{field}: {error.detail}", 1)

    return run
