"""Compare two `tariff eval` predictions.jsonl files byte for byte, latencies removed (issue 15: two runs on one index
must agree).

    .venv/bin/python eval/compare_predictions.py RUN1/predictions.jsonl RUN2/predictions.jsonl

Exit 0 when identical; else 1, naming the items that differ and the first fields that do.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_LATENCY = re.compile(rb'"latency_ms": [0-9.eE+-]+(, )?')


def lines(path: Path) -> list[bytes]:
    return [_LATENCY.sub(b"", line) for line in path.read_bytes().splitlines()]


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    a, b = (lines(Path(p)) for p in sys.argv[1:])
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) == len(b) and not differ:
        print(f"identical: {len(a)} predictions (latency_ms removed)")
        return 0
    print(f"{len(differ)} of {min(len(a), len(b))} predictions differ; {len(a)} vs {len(b)} lines")
    for i in differ[:10]:
        x, y = json.loads(a[i]), json.loads(b[i])
        print(f"  {x.get('id')}: {', '.join(k for k in x if x[k] != y.get(k))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
