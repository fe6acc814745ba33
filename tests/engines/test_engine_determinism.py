"""The same description on the same corpus gives the same answer: in another process (another hash seed), in
another order, after other requests. Only `elapsed_ms` may differ."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assistant.engines import classify

DESCRIPTIONS = [
    "Men's T-shirt, 100% cotton, knitted jersey, short sleeves",
    "cotton shirt",
    "Wood screws of stainless steel, threaded, 40 mm",
    "Other",
    "laptop computer weighing 1.5 kg",
    "frozen fillets of Alaska pollock",
    "vitamin E capsules for human use",
    "wooden bedroom furniture",
    "polyester fleece jacket for women",
    "brake pads for passenger cars",
]

_SCRIPT = """
import json, sys
from assistant.config import Settings
from assistant.engines import classify
from assistant.runtime import Runtime
runtime = Runtime.open(Settings(home=sys.argv[1], _env_file=None), auto_ingest=False)
answers = {d: classify(d, runtime=runtime).model_dump(mode="json", exclude={"elapsed_ms"}) for d in json.loads(sys.argv[2])}
sys.stdout.write(json.dumps(answers, sort_keys=True))
"""


def _answers(runtime, descriptions: list[str]) -> dict[str, dict]:
    return {d: classify(d, runtime=runtime).model_dump(mode="json", exclude={"elapsed_ms"}) for d in descriptions}


def _in_another_process(runtime, descriptions: list[str], seed: int) -> dict[str, dict]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(runtime.settings.home), json.dumps(descriptions)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("corpus", ["hs_runtime", "us_runtime"])
def test_same_answer_in_any_process_and_order(corpus, request):
    runtime = request.getfixturevalue(corpus)
    here = _answers(runtime, DESCRIPTIONS)
    assert all(a["suggestions"] for a in here.values())
    assert _answers(runtime, DESCRIPTIONS[::-1]) == here  # another order, after the first pass warmed every cache
    first = _in_another_process(runtime, DESCRIPTIONS, seed=1)
    second = _in_another_process(runtime, DESCRIPTIONS[3:] + DESCRIPTIONS[:3], seed=2)
    for description in DESCRIPTIONS:
        assert first[description] == here[description], description
        assert second[description] == here[description], description
