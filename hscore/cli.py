"""Command line: ``hscore demo | score | calibrate | compare | export | promote``.

The interface is stable (scripts outside the project call it). Bad input
exits 2 with one line on stderr that starts with ``error:`` and names the
column or field; there is no traceback for anything the user can fix.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hscore.errors import HScoreError

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
    from hscore.scorer import HealthScorer
    from hscore.snapshots import read_snapshots, write_frame
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--require-tracking", action="store_true",
                   help="exit non-zero when the MLflow run cannot be logged")
    p.set_defaults(run=_run_calibrate)


def _print_warnings(caught) -> None:
    from hscore.errors import HScoreWarning

    for w in caught:
        if issubclass(w.category, HScoreWarning):
            print(f"warning: {w.message}", file=sys.stderr)


def _run_calibrate(args) -> int:
    import warnings

    from hscore.calibrate import calibrate
    from hscore.config import save_config
    from hscore.snapshots import read_snapshots

    frame = read_snapshots(args.snapshots)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate(frame, args.config, holdout_from=args.holdout_from,
                           horizon_days=args.horizon_days, n_bootstrap=args.bootstrap,
                           seed=args.seed)
    _print_warnings(caught)
    save_config(result.config, args.out)
    result.print_summary()
    print(f"wrote calibrated config to {args.out}")
    if args.no_track:
        return 0
    return _track(result, frame, args)


def _track(result, frame, args) -> int:
    from hscore.tracking import log_calibration

    try:
        info = log_calibration(result, frame=frame, snapshots_path=args.snapshots)
    except Exception as err:  # noqa: BLE001 - any store failure leaves the written config
        print(f"error: tracking failed, the calibrated config is still at {args.out}: "
              f"{type(err).__name__}: {' '.join(str(err).split())[:300]}", file=sys.stderr)
        return 1 if args.require_tracking else 0
    print(info)
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="is metric/component A more predictive than B?")
    p.add_argument("--snapshots", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--stage", required=True)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--bootstrap", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_compare)


def _run_compare(args) -> int:
    import warnings

    from hscore.compare import compare
    from hscore.snapshots import read_snapshots

    frame = read_snapshots(args.snapshots)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compare(frame, args.config, args.stage, args.a, args.b,
                         n_bootstrap=args.bootstrap, seed=args.seed)
    _print_warnings(caught)
    result.print_summary()
    return 0


_COMMANDS = [_add_demo, _add_score, _add_calibrate, _add_compare]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hscore", description=__doc__.splitlines()[0])
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
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
