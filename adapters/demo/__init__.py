"""A demo node: deterministic keys, real-looking bodies and officers, and signed cases.

:func:`build_demo` fills a *demo* data directory with a Sichuan (510000) ledger that trusts the
roots of Sichuan and Jiangsu (320000), registers bodies at province, city and county level with
their organization data, certifies officers, and appends cases that run through every channel ×
coordination combination the packaged catalog offers and every step type of the workflow.
Every case event is signed by an officer and accepted under the real rules
(:class:`ledger.workflow.CaseWorkflow`), so ``tongban audit verify`` on a demo is clean.

Demo data must never enter a real node. The directory is marked with a ``DEMO`` file; a
non-empty directory without that marker, a directory that already holds a demo, and a database
that already holds a ledger are refused.

Determinism: the plan (case ids, items, bodies, officers, steps, times) comes from
``random.Random(seed)`` alone, and the demo keys from the seed; only the node key and the vault
master key are fresh random keys, as on any node. The root, body and officer keys are written
to ``<data_dir>/demo-keys/`` (with ``index.json``) so a demo user can sign more steps.

Errors::

    DemoError (ValueError)
    └── NotADemoDirectory    the directory (or database) may belong to a real node
"""

from __future__ import annotations

from adapters.demo.bodies import BodySpec, demo_bodies
from adapters.demo.builder import DEMO_KEYS_DIR, DemoSummary, build_demo
from adapters.demo.clock import DEMO_START, DemoClock
from adapters.demo.directory import DEMO_MARKER
from adapters.demo.errors import DemoError, NotADemoDirectory
from adapters.demo.planner import offered_combinations

__all__ = [
    "DEMO_KEYS_DIR",
    "DEMO_MARKER",
    "DEMO_START",
    "BodySpec",
    "DemoClock",
    "DemoError",
    "DemoSummary",
    "NotADemoDirectory",
    "build_demo",
    "demo_bodies",
    "offered_combinations",
]
