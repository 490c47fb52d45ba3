"""The real-size benchmark runs: its small form builds every measured family's transformer at tiny
widths and times a bare, a captured and an edited step (the full run is a benchmark, not a test)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_real_size_small_runs_every_measured_family():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "real_size.py"), "--small", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for family in ("pixart-sigma", "sana1.5-1.6b", "sd3.5-medium", "flux2-klein-4b"):
        assert f"{family} (small)" in out.stdout
    assert out.stdout.count("capture") >= 4 and out.stdout.count("edit") >= 4


def test_the_benchmark_configs_are_the_published_sizes():
    """Parameter counts on the meta device against the published model sizes (billions, rounded)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import real_size as R
    finally:
        sys.path.pop(0)
    published = {"pixart-sigma": 0.6, "sana1.5-1.6b": 1.6, "flux2-klein-4b": 3.9, "flux1-dev": 11.9,
                 "qwen-image": 20.4, "sd3.5-medium": 2.2}
    for key, billions in published.items():
        n = R.count(R.on_meta(R.FAMILIES[key].transformer))["params"]
        assert abs(n / 1e9 - billions) < 0.06, (key, n)
    assert abs(R.count(R.on_meta(R.FAMILIES["pixart-sigma"].parts[1]))["params"] / 1e9 - 4.76) < 0.01  # T5-XXL
