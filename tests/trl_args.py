"""TRL trainer arguments for the tiny CPU runs of the TRL tests.

The settings every such run shares: CPU, no reports, no checkpoints, fp32
(TRL's configs default to bf16, autocast on the CPU too), seed 0, 4 rows a device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["cpu_args"]


def cpu_args(output_dir: str | Path, **over: Any) -> dict[str, Any]:
    """Keyword arguments for a TRL ``*Config`` of a tiny CPU run; ``over`` wins.

    Example:
        >>> cpu_args("out", max_steps=2)["max_steps"], cpu_args("out")["use_cpu"]
        (2, True)
    """
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "seed": 0,
        "bf16": False,
        **over,
    }
