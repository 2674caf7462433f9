"""The benchmark still runs: `python -m bench --quick` (tiny sizes) finishes and writes its results as JSON. It
checks nothing about the figures themselves: budgets are measured by running the benchmark, never by tests."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_quick_benchmark_runs_and_writes_json_with_the_previous_run(tmp_path):
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"started_at": "before", "sizes": {}, "figures": {"x": {"value": 1}}}))
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["quick"] is True and result["previous"]["started_at"] == "before"
    names = set(result["figures"])
    assert {"/who p99", "/tip p99", "/rank p99", "/rank all p99", "/q p99", "/help p99", "/fund p99", "/points p99",
            "chat ingest", "event-loop stall during ingest", "command p99 with chat at 1,000 msgs/s",
            "start to first reply"} <= names
    for figure in result["figures"].values():
        assert figure["value"] == figure["value"], figure          # not NaN
        if figure["met"] is False:
            assert figure["gap"] and figure["profile"], figure["name"]
