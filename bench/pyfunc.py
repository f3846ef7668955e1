"""Benchmark: the registered pyfunc model against ``HealthScorer`` on the same frame.

``python -m bench pyfunc [--rows N] [--repeat R]``

The model is the one :func:`hscore.mlops.model.register` logs (the models-from-code
pyfunc, its typed signature and input example), saved to a temp folder and loaded with
``mlflow.pyfunc.load_model``: what ``models:/customer-health-score@champion`` loads, without
a registry. Its ``predict`` (MLflow's schema check, then the scorer, then the output as
plain strings) and ``HealthScorer(config).score`` take turns on one frame of the
scorer benchmark (:func:`bench.scorer.make_frame`, 30,000 rows by default: float metrics
with gaps, int64 seats); the best of ``--repeat`` runs of each is compared. The target is a
predict within 1.5x of the scorer; the load decides whether it is claimed (``bench.load``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from bench.load import read_load
from bench.scorer import _time_interleaved, make_frame

__all__ = ["main"]

TARGET_RATIO = 1.5


def _load_model(config, frame: pd.DataFrame, folder: Path):
    import mlflow

    from hscore.config.io import save_config
    from hscore.mlops import model

    config_file = save_config(config, folder / "config.yaml")
    return mlflow.pyfunc.load_model(str(model.save(config, config_file, frame,
                                                   folder / "model")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pyfunc",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000, help="snapshot rows (default 30000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs; the best is reported")
    args = parser.parse_args(argv)

    from hscore.config import load_config
    from hscore.mlops import model
    from hscore.mlops.store import quiet_mlflow
    from hscore.scoring.scorer import HealthScorer

    quiet_mlflow()
    config = load_config("lifecycle")
    frame = make_frame(args.rows, config=config)
    scorer = HealthScorer(config)
    with tempfile.TemporaryDirectory(prefix="hscore-bench-pyfunc-") as tmp:
        loaded = _load_model(config, frame, Path(tmp))
        # MLflow's check hands the scorer nanosecond dates (the frame's are seconds): the
        # same dates, another unit.
        got = loaded.predict(frame).astype({"snapshot_date": "datetime64[ns]"})
        same = got.equals(model.pyfunc_output(scorer.score(frame)).astype(
            {"snapshot_date": "datetime64[ns]"}))
        load = read_load()
        print(f"frame: {len(frame):,} rows x {frame.shape[1]} columns; {load.describe()}",
              flush=True)
        times = _time_interleaved({"scorer": lambda: scorer.score(frame),
                                   "pyfunc": lambda: loaded.predict(frame),
                                   "reasons": lambda: loaded.predict(
                                       frame, params={model.TOP_REASONS: 3})}, args.repeat)
    (s_wall, s_cpu), (p_wall, p_cpu) = times["scorer"], times["pyfunc"]
    r_wall, r_cpu = times["reasons"]
    ratio = p_wall / s_wall
    rows = [
        [f"HealthScorer.score: wall (best of {args.repeat})", f"{s_wall:.3f} s",
         f"cpu {s_cpu:.3f} s"],
        ["pyfunc predict: wall", f"{p_wall:.3f} s", f"cpu {p_cpu:.3f} s"],
        ["pyfunc predict / scorer", f"{ratio:.2f}x",
         f"<= {TARGET_RATIO:g}x: {load.verdict(ratio <= TARGET_RATIO)}"],
        ["pyfunc predict, top_reasons=3: wall", f"{r_wall:.3f} s",
         f"cpu {r_cpu:.3f} s; {r_wall / s_wall:.2f}x the scorer"],
        ["predict == scorer output", str(same), ""],
    ]
    print(pd.DataFrame(rows, columns=["measure", "value", "target"]).to_string(index=False))
    return 0 if same else 1


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main(sys.argv[1:]))
