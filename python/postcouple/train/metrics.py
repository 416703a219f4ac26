"""``metrics.jsonl``: one JSON object per training step and per evaluation.

Each record has ``kind`` (``"train"`` or ``"eval"``), ``stage``,
``stage_index``, ``step`` (global optimizer steps done) and ``stage_step``, plus
the stage's or the evaluation's metrics (see :mod:`postcouple.train.rl`,
:mod:`postcouple.train.sft`, :mod:`postcouple.train.evaluate`). Rank 0 writes
it, flushed after every record; with ``progress`` the same scalars go to
TensorBoard under ``tb/`` when tensorboard is installed.

Example:
    >>> from postcouple.train.metrics import read_metrics
    >>> recs = read_metrics("runs/demo")  # doctest: +SKIP
    >>> [r["kl_init"] for r in recs if r["kind"] == "eval"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Metrics renamed since earlier versions: old name -> new name.
RENAMED_METRICS = {"kl_ref": "kl_init"}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (the file or its run directory).

    Metrics written under an old name (:data:`RENAMED_METRICS`) are given their
    new one, so files of earlier versions read like current ones.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    out = []
    for line in p.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            for old, new in RENAMED_METRICS.items():
                if old in rec and new not in rec:
                    rec[new] = rec.pop(old)
            out.append(rec)
    return out


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the records after global ``step`` (a resumed run rewrites them)."""
    if not path.exists():
        return
    keep = [
        ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(ln + "\n" for ln in keep))
    tmp.replace(path)


class MetricsWriter:
    """Appends records to ``metrics.jsonl`` (and TensorBoard, when asked and installed)."""

    def __init__(self, path: Path, tb_dir: Path | None) -> None:
        self.path = path
        self.f = open(path, "a")
        self.tb = None
        if tb_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(tb_dir))
            except Exception:  # tensorboard not installed: JSON lines only
                self.tb = None

    def write(self, rec: dict[str, Any]) -> None:
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k not in ("step", "stage_index"):
                    self.tb.add_scalar(f"{rec['kind']}/{k}", v, rec["step"])

    def close(self) -> None:
        self.f.close()
        if self.tb is not None:
            self.tb.close()
