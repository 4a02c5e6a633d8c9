"""One bulk import in its own process (so its peak memory is its own):
``python -m benchmarks.import_process FILE`` with DATABASE_URL in the environment.

Imports the file with ``domain.bills.import_bill_file`` (as /importbills does) and prints
JSON: bills imported, seconds, peak resident memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

from domain import bills
from domain.db import Database, DatabaseUrl


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def run(path: Path) -> dict[str, float]:
    db = await Database.connect(
        DatabaseUrl.parse(os.environ["DATABASE_URL"]), maxsize=2, local_infile=True
    )
    try:
        started = time.perf_counter()
        result = await bills.import_bill_file(
            db,
            lambda: path.open(encoding="utf-8-sig", newline=""),
            default_rate=Decimal("68.50"),
        )
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    return {"bills": result.count, "seconds": seconds, "peak_rss_kib": _peak_kib()}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(Path(sys.argv[1])))), flush=True)
