"""The production scoring path stays light: no mlflow, statsmodels, scikit-learn,
matplotlib (nor scipy) in ``sys.modules`` after importing and using it.

Each check runs in a fresh interpreter: the test process itself has long since
imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("mlflow", "statsmodels", "sklearn", "matplotlib", "scipy", "duckdb", "pyspark")


def _loaded_heavy(code: str, cwd=None) -> list[str]:
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        heavy = {HEAVY!r}
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_checker_sees_a_heavy_import():
    # guards the test below against passing because it looks in the wrong place
    assert "scipy" in _loaded_heavy("import scipy.special")


@pytest.mark.parametrize("statement", ["import hscore.scoring", "import hscore.scoring.scorer",
                                       "import hscore",
                                       "import hscore.config, hscore.scoring.transforms, "
                                       "hscore.scoring.snapshots"])
def test_importing_the_scoring_path_loads_no_heavy_library(statement):
    assert _loaded_heavy(statement) == []


def test_scoring_a_frame_loads_no_heavy_library():
    assert _loaded_heavy("""
        import pandas as pd
        import hscore
        cfg = hscore.load_config("lifecycle")
        frame = pd.DataFrame({"account_id": ["a"], "snapshot_date": ["2026-01-01"],
                              "stage": ["maturity"], "seats": [5],
                              **{m: [0.5] for m in cfg.metric_names}})
        frame["user_nps"] = 10.0
        frame["csat"] = 4.0
        frame["csm_pulse"] = 3.0
        frame["qbr_held_180d"] = 1.0
        frame["champion_nps"] = 8.0
        out = hscore.HealthScorer(cfg).score(frame)
        assert out["score"].notna().all()
    """) == []


def test_the_score_command_loads_no_heavy_library(tmp_path):
    snapshots = tmp_path / "snap.csv"
    snapshots.write_text("account_id,snapshot_date,seats,days_past_due,csat\n"
                         "a,2026-01-01,3,0,4\n", encoding="utf-8")
    assert _loaded_heavy(f"""
        import pandas as pd
        from hscore.config import load_config
        cfg = load_config("categories")
        frame = pd.read_csv({str(snapshots)!r})
        for m in cfg.metric_names:
            if m not in frame:
                frame[m] = float("nan")
        frame.to_csv({str(tmp_path / "full.csv")!r}, index=False)
        from hscore.cli import main
        assert main(["score", "--config", "categories",
                     "--snapshots", {str(tmp_path / "full.csv")!r},
                     "--out", {str(tmp_path / "out.parquet")!r}]) == 0
    """) == []


def test_importing_hscore_leaves_the_environment_alone():
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os
        before = dict(os.environ)
        import hscore, hscore.scoring, hscore.calibration, hscore.config
        after = dict(os.environ)
        print(sorted(set(after.items()) ^ set(before.items())))
    """)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_mlflow_layer_opts_out_of_telemetry_unless_told_otherwise():
    code = "import os, hscore.mlops; print(os.environ.get('MLFLOW_DISABLE_TELEMETRY'))"
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_DISABLE_TELEMETRY"}
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=120)
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**env, "MLFLOW_DISABLE_TELEMETRY": "false"}, timeout=120)
    assert (default.stdout.strip(), chosen.stdout.strip()) == ("true", "false")
