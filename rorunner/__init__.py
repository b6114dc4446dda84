"""rorunner: plan and run scripted work on fleets of IPv6 hosts over SSH.

The seed's task-generator API is exported here and imported on first use, so
`import rorunner` stays cheap for the inventory and planning layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "doit_task_generator_for_RTAS",
    "gen_task_fetch_files",
    "gen_task_local_exec",
    "gen_task_remote_exec",
    "gen_task_ship_files",
    "get_ref_name",
]

if TYPE_CHECKING:
    from rorunner.tasks import (
        doit_task_generator_for_RTAS,
        gen_task_fetch_files,
        gen_task_local_exec,
        gen_task_remote_exec,
        gen_task_ship_files,
        get_ref_name,
    )


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        import rorunner.tasks  # noqa: PLC0415

        return getattr(rorunner.tasks, name)
    raise AttributeError(f"module 'rorunner' has no attribute {name!r}")
