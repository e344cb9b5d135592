"""The browser tests' shared settings.

Playwright's assertions wait 5 s by default. On a machine busy with other jobs (CI beside
other work, two suites at once) a page's step (a signature, an append, a QR image decoded in
the page) took longer than that, and a correct page failed. The assertions still wait only for
what the page must end up showing: a longer ceiling is not a timed assertion.
"""

from __future__ import annotations

from playwright.sync_api import expect

expect.set_options(timeout=30_000)
