"""Run a test module a second time with every key of another suite.

Some corpora (the license forgery corpus above all) build their keys and signed fixtures at
import time. :func:`load_with_suite` executes such a module again, under another name, with
``TONGBAN_TEST_KEY_SUITE`` set while it (and what it imports of the listed modules) loads, so
a test module can re-export the tests and run the whole corpus on SM2 as well.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

FORGERY_SUITE_VARIABLE = "TONGBAN_TEST_KEY_SUITE"


def load_with_suite(suite: str, module: str, dependencies: Sequence[str] = ()) -> ModuleType:
    """A fresh copy of ``module`` (and of ``dependencies``, which it imports) whose keys are
    of ``suite``. The ordinary modules in ``sys.modules`` are put back afterwards."""
    names = [*dependencies, module]
    saved = {name: sys.modules.get(name) for name in names}
    previous = os.environ.get(FORGERY_SUITE_VARIABLE)
    os.environ[FORGERY_SUITE_VARIABLE] = suite
    try:
        loaded: ModuleType | None = None
        for name in names:
            sys.modules.pop(name, None)
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.loader is not None, name
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
        assert loaded is not None
        return loaded
    finally:
        if previous is None:
            os.environ.pop(FORGERY_SUITE_VARIABLE, None)
        else:
            os.environ[FORGERY_SUITE_VARIABLE] = previous
        for name, original in saved.items():
            if original is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = original
