"""Command line: ``hscore demo | build | score | calibrate | compare | export | promote``.

The interface is stable (scripts outside the project call it). Bad input
exits 2 with one line on stderr that starts with ``error:`` and names the
column or field; there is no traceback for anything the user can fix.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hscore.errors import HScoreError, print_warnings

__all__ = ["main"]


class _UsageError(HScoreError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise _UsageError(f"{self.prog}: {message}")


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score snapshots with a config")
    p.add_argument("--config", required=True, help="YAML path or shipped default name")
    p.add_argument("--snapshots", required=True, help="snapshot table, .csv or .parquet")
    p.add_argument("--out", help="write scores to this .csv or .parquet (default: summary only)")
    p.set_defaults(run=_run_score)


def _run_score(args) -> int:
    from hscore.config import load_config
    from hscore.scoring.scorer import HealthScorer
    from hscore.scoring.snapshots import read_snapshots, write_frame
    from hscore.report import score_summary

    scores = HealthScorer(load_config(args.config)).score(read_snapshots(args.snapshots))
    print(score_summary(scores).to_string())
    if args.out:
        write_frame(scores, args.out)
        print(f"wrote {len(scores)} scored rows to {args.out}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole loop on synthetic data with the embedded store")
    p.add_argument("--accounts", type=int, default=None, help="synthetic accounts")
    p.add_argument("--months", type=int, default=None, help="months of history")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=None, help="where the demo writes its files")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from hscore.demo import run_demo

    return run_demo(accounts=args.accounts, months=args.months, seed=args.seed,
                    out_dir=args.out_dir)


def _add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="learn per-stage weights from churn history")
    p.add_argument("--snapshots", required=True, help="snapshot table with churned, .csv/.parquet")
    p.add_argument("--config", default="lifecycle", help="starting config (default: lifecycle)")
    p.add_argument("--holdout-from", help="first day of the out-of-time holdout (YYYY-MM-DD)")
    p.add_argument("--horizon-days", type=int, help="label horizon (default: the config's)")
    p.add_argument("--out", required=True, help="write the calibrated config (YAML) here")
    p.add_argument("--bootstrap", type=int, default=200, help="account-bootstrap resamples")
    p.add_argument("--strengths", type=_strengths,
                   help="penalty strengths tried by cross-validation, comma-separated "
                        "(inf = keep the input weights, 0 = no pull; default: a built-in grid; "
                        "one value skips cross-validation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--require-tracking", action="store_true",
                   help="exit 1 when the MLflow run cannot be logged (default: say so, exit 0; "
                        "the calibrated config is written to --out either way)")
    p.set_defaults(run=_run_calibrate)


def _strengths(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")
    if not values or any(not v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"strengths must be numbers >= 0 (inf allowed): {text!r}")
    return values


def _run_calibrate(args) -> int:
    import warnings

    from hscore.calibration.calibrator import calibrate
    from hscore.config import save_config
    from hscore.scoring.snapshots import read_snapshots

    frame = read_snapshots(args.snapshots)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate(frame, args.config, holdout_from=args.holdout_from,
                           horizon_days=args.horizon_days, n_bootstrap=args.bootstrap,
                           strengths=args.strengths, seed=args.seed)
    print_warnings(caught, file=sys.stderr)
    save_config(result.config, args.out)
    result.print_summary(warnings=False)    # printed on stderr above
    print(f"wrote calibrated config to {args.out}")
    if args.no_track:
        return 0
    return _track(result, frame, args)


def _track(result, frame, args) -> int:
    """Log the run; a store that cannot be written leaves the config at --out and says so.

    Once the run is logged, --out is rewritten with ``provenance.run_id`` and
    ``provenance.model`` (name, version), so the file says which run and version it became.
    """
    import contextlib
    import io

    from hscore.config import save_config
    from hscore.mlops.tracking import (MODEL_NAME, describe_store, log_calibration, quiet_mlflow,
                                 tracking_uri)

    quiet_mlflow()
    chatter = io.StringIO()   # MLflow prints "Created version ..." on its own; we print ours
    try:
        with contextlib.redirect_stderr(chatter):
            info = log_calibration(result, frame=frame, snapshots_path=args.snapshots)
    except Exception as err:  # noqa: BLE001 - any store failure: the written config stands
        why = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        kind = "error" if args.require_tracking else "warning"
        print(f"{kind}: tracking failed ({tracking_uri()}): {why}; the calibrated config is "
              f"written to {args.out}", file=sys.stderr)
        return 1 if args.require_tracking else 0
    prov = dict(result.config.provenance or {})
    prov["run_id"] = info.run_id
    if info.model_version:
        prov["model"] = {"name": MODEL_NAME, "version": str(info.model_version),
                         "uri": info.model_uri}
    save_config(result.config.replace(provenance=prov), args.out)
    print(info)
    print(describe_store())
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="is metric/component A more predictive than B?")
    p.add_argument("--snapshots", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--stage", required=True)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--bootstrap", type=int, default=500,
                   help="paired account-bootstrap resamples for the ΔAUC CI")
    p.add_argument("--horizon-days", type=int, help="label horizon (default: the config's)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_compare)


def _run_compare(args) -> int:
    import warnings

    from hscore.calibration.compare import compare
    from hscore.scoring.snapshots import read_snapshots

    frame = read_snapshots(args.snapshots)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compare(frame, args.config, args.stage, args.a, args.b,
                         n_bootstrap=args.bootstrap, seed=args.seed,
                         horizon_days=args.horizon_days)
    print_warnings(caught, file=sys.stderr)
    result.print_summary(warnings=False)    # printed on stderr above
    return 0


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="raw tables -> snapshot table, every metric point in time")
    p.add_argument("--tables", required=True, help="folder of raw tables (CSV or Parquet)")
    p.add_argument("--out", required=True, help="write the snapshot table here (.csv/.parquet)")
    p.add_argument("--cadence", choices=["monthly", "weekly"], default="monthly",
                   help="snapshots on the 1st of each month or on Mondays (default: monthly)")
    p.add_argument("--horizon-days", type=int, help="label horizon (default: the config's)")
    p.add_argument("--as-of", help="the data's last day, YYYY-MM-DD (default: latest in the tables)")
    p.add_argument("--start", help="first snapshot day, YYYY-MM-DD (default: 30 days into the data)")
    p.add_argument("--config", default="lifecycle", help="which metrics (default: lifecycle)")
    p.add_argument("--definitions", action="append",
                   help="metric definitions laid over the shipped ones (repeatable)")
    p.add_argument("--dedupe", choices=["drop", "error", "keep"], default="drop",
                   help="identical activity rows: count once (default), refuse, or keep all")
    p.add_argument("--memory-limit", help="DuckDB memory limit, e.g. 4GB (default: DuckDB's)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=_run_build)


def _run_build(args) -> int:
    import contextlib
    import warnings

    from hscore.build import build_snapshots, check_output, describe
    from hscore.progress import Progress, reporting
    from hscore.scoring.snapshots import write_frame

    check_output(args.out, args.tables)
    quiet = contextlib.nullcontext() if args.quiet else reporting(Progress())
    with quiet, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = build_snapshots(args.tables, args.config, cadence=args.cadence,
                                horizon_days=args.horizon_days, as_of=args.as_of,
                                start=args.start, definitions=args.definitions,
                                dedupe=args.dedupe, memory_limit=args.memory_limit)
    print_warnings(caught, file=sys.stderr)
    write_frame(frame, args.out)
    print(describe(frame))
    print(f"wrote {len(frame)} snapshots to {args.out}")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write a registered version's config for production")
    p.add_argument("--model", required=True,
                   help="models:/customer-health-score@champion, models:/customer-health-score/3, "
                        "a version number or a run id")
    p.add_argument("--out", required=True, help="the YAML file to write (atomically)")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from hscore.mlops.export import describe_export, export_config
    from hscore.mlops.tracking import quiet_mlflow

    quiet_mlflow()
    path = export_config(args.model, args.out)
    print(describe_export(path))
    return 0


def _add_promote(sub) -> None:
    from hscore.mlops.registry import DEFAULT_TOLERANCE

    p = sub.add_parser("promote", help="compare the challenger with the champion and promote")
    p.add_argument("--version", help="the challenger's version number (default: @challenger)")
    p.add_argument("--force", action="store_true",
                   help="move @champion even when the challenger's AUC is worse")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help="how much lower the challenger's pooled holdout AUC may be "
                        f"(default {DEFAULT_TOLERANCE})")
    p.add_argument("--snapshots", help="compare on this file's rows from the challenger's "
                                       "holdout start (default: the holdout its run logged)")
    p.add_argument("--bootstrap", type=int, default=200,
                   help="paired account-bootstrap resamples for the ΔAUC CI")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_promote)


def _run_promote(args) -> int:
    from hscore.mlops.registry import promote
    from hscore.mlops.tracking import quiet_mlflow

    quiet_mlflow()
    result = promote(args.version, tolerance=args.tolerance, force=args.force,
                     snapshots=args.snapshots, n_bootstrap=args.bootstrap, seed=args.seed)
    print(result)
    return 0


_COMMANDS = [_add_demo, _add_build, _add_score, _add_calibrate, _add_compare, _add_export,
             _add_promote]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hscore", description="Customer health scores per lifecycle stage, "
                     "calibrated against churn history.",
                     epilog="exit status: 0 done; 2 bad input (one line on stderr starting with "
                            "'error:'); 1 tracking failed under calibrate --require-tracking")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except HScoreError as err:
        print(f"error: {err.one_line()}", file=sys.stderr)
        return 2
    except OSError as err:  # unreadable/unwritable file named by the user
        print(f"error: {err.filename or ''}: {err.strerror or err}".replace(": :", ":"),
              file=sys.stderr)
        return 2
    except Exception as err:
        if not type(err).__module__.startswith("mlflow"):
            raise
        # The store itself failed (unreachable server, read-only or damaged database).
        from hscore.mlops.tracking import tracking_uri

        text = " ".join(str(getattr(err, "message", err)).split())[:300]
        print(f"error: MLflow store {tracking_uri()}: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
