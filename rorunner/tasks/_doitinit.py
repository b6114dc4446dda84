"""doit's modules without doit's package __init__, which loads doit's whole command line
(doit_cmd and its commands, plugins, importlib.metadata: ~30 ms of every run) that rorunner
does not use. Imported before the first doit import (tasks._outcome, engine._doit)."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def skip_package_init() -> None:
    """Register doit's package without running its __init__ (unless doit is imported
    already); the first use of an attribute of the package itself (doit.run, ...) runs it."""
    spec = importlib.util.find_spec("doit") if "doit" not in sys.modules else None
    if spec is None or spec.loader is None:
        return
    loader, package = spec.loader, importlib.util.module_from_spec(spec)

    def attribute(name: str) -> Any:
        if importlib.util.find_spec(f"doit.{name}") is not None:
            raise AttributeError(name)  # a module of the package: the import system loads it
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    package.__dict__["__getattr__"] = attribute
    sys.modules["doit"] = package


skip_package_init()
