"""Command line: ``hscore demo | build | score | calibrate | compare | export | promote |
monitor``.

The interface is stable (scripts outside the project call it). Bad input
exits 2 with one line on stderr that starts with ``error:`` and names the
column or field; there is no traceback for anything the user can fix.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from hscore.errors import DataError, HScoreError, MissingColumnError, OutputError, print_warnings

__all__ = ["main"]


class _UsageError(HScoreError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise _UsageError(f"{self.prog}: {message}")


def _whole(low: int):
    """An argparse type: a whole number >= ``low`` (a seed of -1 is refused here, not deep
    inside numpy)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text!r}")
        return value
    parse.__name__ = f"whole number >= {low}"
    return parse


_SEED = _whole(0)
_COUNT = _whole(0)
_POSITIVE = _whole(1)


def _jobs(text: str) -> int:
    """An argparse type: a worker count as ``n_jobs`` takes it (-1: every core; not 0)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must be a whole number >= 1, or -1 for every core "
                                         f"(-2 all but one), got {text!r}")
    return value


def _memory_limit(text: str) -> str:
    """An argparse type: a DuckDB memory limit (the builder's own check, said at parse time)."""
    from hscore.build.engine import memory_limit_problem

    problem = memory_limit_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text.strip()


class _Default(str):
    """A default argument value, told apart from the same text typed by the user (the
    missing-column error says "the default config is 'lifecycle'" only when it was not)."""


def _add_date_format(p) -> None:
    p.add_argument("--date-format", metavar="FORMAT",
                   help="how snapshot_date is written, in strftime codes (e.g. '%%d/%%m/%%Y'); "
                        "default ISO 8601 (YYYY-MM-DD); dates are never guessed")


def _add_reading(p, *, plots: tuple[str, ...] = ()) -> None:
    """The flags of every command that reads snapshots with a config: --date-format,
    --normalize-weights and, with ``plots`` (the figures it draws), --plots DIR."""
    _add_date_format(p)
    p.add_argument("--normalize-weights", action="store_true",
                   help="rescale the config's weights to sum to 1 in each stage and component "
                        "(a config typed as percentages)")
    if plots:
        p.add_argument("--plots", metavar="DIR",
                       help=f"write {', '.join(f'{n}.png' for n in plots)} to this folder")
        p.set_defaults(figures=plots)


def _config(args):
    """The command's config, loaded (and normalized with --normalize-weights)."""
    from hscore.config import load_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config(args.config, normalize=args.normalize_weights)
    print_warnings(caught, file=sys.stderr)
    return config


def _snapshots(args):
    from hscore.scoring.snapshots import read_snapshots

    return read_snapshots(args.snapshots, date_format=args.date_format)


def _write_plots(args, draw) -> None:
    """Write each figure ``draw`` maps a name to (a function of nothing that returns a
    matplotlib Figure) as ``<--plots>/<name>.png``, atomically, and print its path."""
    if not getattr(args, "plots", None):
        return
    from hscore.files import atomic_write
    from hscore.plots import save_png

    for name in args.figures:
        fig = draw[name]()
        path = atomic_write(Path(args.plots) / f"{name}.png",
                            lambda tmp, fig=fig: save_png(fig, tmp))
        print(f"wrote plot {path}")


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score snapshots with a config")
    p.add_argument("--config", required=True, help="YAML path or shipped default name")
    p.add_argument("--snapshots", required=True, help="snapshot table, .csv or .parquet")
    p.add_argument("--out", help="write scores to this .csv or .parquet (default: summary only)")
    _add_reading(p, plots=("score_distribution",))
    p.set_defaults(run=_run_score, inputs=("config", "snapshots"), outputs=("out",))


def _run_score(args) -> int:
    from hscore.scoring.scorer import HealthScorer
    from hscore.scoring.snapshots import write_frame
    from hscore.report import score_summary
    from hscore.scoring.tables import table_format

    if args.out:
        table_format(args.out, output=True)
    config = _config(args)
    frame = _snapshots(args)
    y = _labels(frame)
    scores = HealthScorer(config).score(frame)
    if y is not None:
        scores = _with_labels(scores, y)
    print(score_summary(scores).to_string())
    if y is not None:
        print(_horizon_text(config))
        print(_score_auc_text(scores))
    if args.out:
        # a CSV's dates go back out as they came in, so the scores join back on them
        write_frame(scores, args.out, date_format=args.date_format)
        print(f"wrote {len(scores)} scored rows to {args.out}")
    from hscore import plots

    _write_plots(args, {"score_distribution": lambda: plots.score_distribution(scores, config)})
    return 0


def _labels(frame):
    """``churned`` as float 0/1 (NaN = not yet known), None without the column; other values
    are an error that lists them."""
    if "churned" not in frame.columns:
        return None
    from hscore.calibration.design import labels

    return labels(frame)


def _with_labels(scores, y):
    """The scores with the input's ``churned`` (0/1, empty = not yet known) after ``stage`` and
    ``segment``, so the file can be evaluated or joined without the input."""
    import pandas as pd

    at = scores.columns.get_loc("segment" if "segment" in scores.columns else "stage") + 1
    out = scores.copy(deep=False)
    out.insert(at, "churned", pd.array(y, dtype="Float64").astype("Int64"))
    return out


def _horizon_text(config) -> str:
    """What ``churned`` is taken to mean when ``score`` evaluates against it."""
    if config.label_horizon_days is None:
        return (f"churned = churn within the horizon of your labels ('{config.name}' sets no "
                "label_horizon_days)")
    from hscore.calibration.validation import horizon_line

    return (horizon_line(config.label_horizon_days, config.name, config.label_horizon_days)
            + "; labels over another horizon make this AUC another question")


def _score_auc_text(scores) -> str:
    """:func:`hscore.report.stage_auc` of the labelled rows, as printed by ``hscore score``."""
    from hscore.report import stage_auc

    table = stage_auc(scores)
    if table.empty:
        return "AUC: no row has both a known churned label and a score"
    return ("AUC of the score against churned (labelled rows with a score; 0.5 = chance, "
            "NaN = one class only):\n"
            + table.assign(auc=table["auc"].round(3)).reset_index().to_string(index=False))


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the whole loop on synthetic data with the embedded store")
    p.add_argument("--accounts", type=_POSITIVE, default=None, help="synthetic accounts")
    p.add_argument("--months", type=_POSITIVE, default=None, help="months of history")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--out-dir", default=None, help="where the demo writes its files")
    p.add_argument("--from-raw", action="store_true",
                   help="start from synthetic raw tables (accounts, events, touches, surveys, "
                        "...) and build the snapshots with `hscore build` first")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=_run_demo)


def _run_demo(args) -> int:
    from hscore.demo import run_demo

    with _progress(args):
        return run_demo(accounts=args.accounts, months=args.months, seed=args.seed,
                        out_dir=args.out_dir, from_raw=args.from_raw)


def _add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="learn per-stage weights from churn history")
    p.add_argument("--snapshots", required=True, help="snapshot table with churned, .csv/.parquet")
    p.add_argument("--config", default=_Default("lifecycle"),
                   help="starting config (default: lifecycle)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--holdout-from", help="first day of the out-of-time holdout (YYYY-MM-DD)")
    which.add_argument("--holdout", choices=("accounts", "none"),
                       help="accounts: an account-grouped random holdout (chosen by itself, with "
                            "a notice, when the data span too little time for an out-of-time "
                            "one); none: no evaluation, every labelled row trains")
    p.add_argument("--refit", choices=("all", "train"), default="all",
                   help="exported weights: all = refitted on every labelled row after the "
                        "holdout evaluation (default); train = the validated train-window fit")
    p.add_argument("--horizon-days", type=_POSITIVE, help="label horizon (default: the config's)")
    p.add_argument("--out", required=True, help="write the calibrated config (YAML) here")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--bootstrap", type=_COUNT, default=200, help="account-bootstrap resamples")
    p.add_argument("--strengths", type=_strengths,
                   help="penalty strengths tried by cross-validation, comma-separated "
                        "(inf = keep the input weights, 0 = no pull; default: a built-in grid; "
                        "one value skips cross-validation)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                   help="threads for the cross-validation folds and the bootstrap refits "
                        "(default 1; -1: every core); the result does not depend on it")
    p.add_argument("--transforms", choices=("keep", "learn"), default="keep",
                   help="learn: per metric, a monotone piecewise curve replaces the configured "
                        "transform where account-grouped CV says it predicts churn better "
                        "(default keep: the config's transforms)")
    p.add_argument("--at-risk-share", type=_share, metavar="S",
                   help="proposed bands put the riskiest share S (0-1) of the latest book at "
                        "risk (default: predicted churn >= 2 x the base rate)")
    p.add_argument("--take-bands", action="store_true",
                   help="write the proposed bands into the config's bands (default: they are "
                        "only proposed, under provenance.proposed_bands)")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    _add_model_name(p, "register the version under this model (default: from the config's "
                       "name without '-calibrated'; customer-health-score for lifecycle)")
    p.add_argument("--require-tracking", action="store_true",
                   help="exit 1 when the MLflow run cannot be logged (default: say so, exit 0; "
                        "the calibrated config is written to --out either way)")
    _add_reading(p, plots=("weights", "calibration_curve", "roc", "transforms"))
    p.set_defaults(run=_run_calibrate, inputs=("snapshots", "config"), outputs=("out",))


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text!r}")
    return value


def _add_model_name(p, help_text: str) -> None:
    p.add_argument("--model-name", metavar="NAME", help=help_text)


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

    from hscore import plots
    from hscore.calibration import calibrate
    from hscore.config import save_config

    config = _config(args)
    if args.model_name and not args.no_track:
        from hscore.mlops.model import check_model_name

        check_model_name(args.model_name)       # before the work, not after it
    frame = _snapshots(args)
    with warnings.catch_warnings(record=True) as caught, _progress(args), \
            _default_config_hint(args):
        warnings.simplefilter("always")
        result = calibrate(frame, config, holdout_from=args.holdout_from,
                           holdout=args.holdout, refit=args.refit,
                           horizon_days=args.horizon_days, n_bootstrap=args.bootstrap,
                           strengths=args.strengths, seed=args.seed, n_jobs=args.jobs,
                           transforms=args.transforms, at_risk_share=args.at_risk_share,
                           take_bands=args.take_bands)
    print_warnings(caught, file=sys.stderr)
    save_config(result.config, args.out)
    result.print_summary(warnings=False)    # printed on stderr above; first line: the horizon
    print(f"wrote calibrated config to {args.out} (exported fit: {result.refit})")
    if not result.transforms:       # transforms.png only shows learned curves
        args.figures = tuple(f for f in args.figures if f != "transforms")
    _write_plots(args, {"weights": lambda: plots.weights(result),
                        "calibration_curve": lambda: plots.calibration_curve(result),
                        "roc": lambda: plots.roc(result),
                        "transforms": lambda: plots.transforms(result)})
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
    from hscore.mlops.store import describe_store, quiet_mlflow, tracking_uri
    from hscore.mlops.tracking import log_calibration, plot_names

    quiet_mlflow()
    chatter = io.StringIO()   # MLflow prints "Created version ..." on its own; we print ours
    try:
        with _progress(args) as report, report.phase("track and register"), \
                contextlib.redirect_stderr(chatter):
            # the figures --plots wrote are the run's: logged as they are, not drawn again
            info = log_calibration(result, frame=frame, snapshots_path=args.snapshots,
                                   model_name=args.model_name, plots=args.plots,
                                   date_format=args.date_format)
    except Exception as err:  # noqa: BLE001 - any store failure: the written config stands
        why = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        kind = "error" if args.require_tracking else "warning"
        print(f"{kind}: tracking failed ({tracking_uri()}): {why}; the calibrated config is "
              f"written to {args.out}", file=sys.stderr)
        return 1 if args.require_tracking else 0
    added = {"run_id": info.run_id}
    if info.model_version:
        added["model"] = {"name": info.model_name, "version": str(info.model_version),
                          "uri": info.model_uri}
    prov = result.config.provenance.extended(**added)
    save_config(result.config.replace(provenance=prov.to_dict()), args.out)
    print(info)
    folder = _run_artifacts(info)
    if folder:
        figures = ", ".join(f"{n}.png" for n in plot_names(result))
        print(f"run artifacts: {folder} (calibration/: config and tables; plots/: "
              f"{figures}; holdout/: the holdout snapshots)")
    print(describe_store())
    return 0


def _run_artifacts(info) -> str | None:
    """Where a tracked run's artifacts are: a folder for a local store, else the artifact URI
    the run itself was given (so an experiment created elsewhere with another artifact
    location is right too)."""
    from urllib.parse import unquote, urlparse

    uri = info.artifact_uri
    if not uri:
        return None
    return unquote(urlparse(uri).path) if uri.startswith("file:") else uri


@contextlib.contextmanager
def _default_config_hint(args):
    """A missing column under the config calibrate chose by default says so: the data may
    be meant for another config."""
    try:
        yield
    except MissingColumnError as err:
        if not isinstance(args.config, _Default):
            raise
        raise err.amended(f"the default config is '{args.config}'; pass --config with the "
                          f"config this table is meant for") from None


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="is metric/component A more predictive than B?")
    p.add_argument("--snapshots", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--stage", required=True)
    p.add_argument("--segment", help="compare on the stage's rows of this segment only "
                                      "(components scored with its weights, if it has them)")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--bootstrap", type=_COUNT, default=500,
                   help="paired account-bootstrap resamples for the ΔAUC CI")
    p.add_argument("--horizon-days", type=_POSITIVE, help="label horizon (default: the config's)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_reading(p, plots=("compare_lift",))
    p.set_defaults(run=_run_compare, inputs=("snapshots", "config"))


def _progress(args):
    """The progress reporter of a long command: phases on stderr unless --quiet."""
    from hscore import progress

    return progress.reporting(progress.Silent() if args.quiet else progress.Progress())


def _run_compare(args) -> int:
    import warnings

    from hscore import plots
    from hscore.calibration.compare import compare

    config = _config(args)
    frame = _snapshots(args)
    with warnings.catch_warnings(record=True) as caught, _progress(args):
        warnings.simplefilter("always")
        result = compare(frame, config, args.stage, args.a, args.b,
                         n_bootstrap=args.bootstrap, seed=args.seed,
                         horizon_days=args.horizon_days, segment=args.segment)
    print_warnings(caught, file=sys.stderr)
    result.print_summary(warnings=False)    # printed on stderr above; first line: the horizon
    _write_plots(args, {"compare_lift": lambda: plots.compare_lift(result)})
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
    p.add_argument("--memory-limit", type=_memory_limit,
                   help="DuckDB memory limit, e.g. 4GB or 500MB (default: DuckDB's)")
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
    p.add_argument("--model",
                   help="models:/NAME@champion, models:/NAME/3, a version number or a run id "
                        "(default: @champion of --model-name, or of the store's only model)")
    _add_model_name(p, "the registered model (one per book) that --model's version number "
                       "or the default @champion belongs to")
    p.add_argument("--out", required=True, help="the YAML file to write (atomically)")
    p.set_defaults(run=_run_export, outputs=("out",))


def _run_export(args) -> int:
    from hscore.mlops.export import describe_export, export_config
    from hscore.mlops.store import quiet_mlflow

    quiet_mlflow()
    path = export_config(args.model, args.out, model_name=args.model_name)
    print(describe_export(path))
    return 0


def _add_promote(sub) -> None:
    from hscore.mlops.promotion import DEFAULT_TOLERANCE

    p = sub.add_parser("promote", help="compare the challenger with the champion and promote")
    _add_model_name(p, "the registered model (one per book; default: the store's only one)")
    p.add_argument("--version", help="the challenger's version number (default: @challenger)")
    p.add_argument("--force", action="store_true",
                   help="move @champion even when the challenger's AUC is worse")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help="how much lower the challenger's pooled holdout AUC may be "
                        f"(default {DEFAULT_TOLERANCE})")
    p.add_argument("--snapshots", help="compare on this file's rows from the challenger's "
                                       "holdout start (default: the holdout its run logged)")
    _add_date_format(p)
    p.add_argument("--bootstrap", type=_COUNT, default=200,
                   help="paired account-bootstrap resamples for the ΔAUC CI")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=_run_promote)


def _run_promote(args) -> int:
    from hscore.mlops.promotion import promote
    from hscore.mlops.store import quiet_mlflow

    quiet_mlflow()
    # Read here, before any progress line: a bad file is then the command's only line on
    # stderr (and promote() itself reads ISO dates only).
    snapshots = _snapshots(args) if args.snapshots is not None else None
    with _progress(args):
        result = promote(args.version, model_name=args.model_name, tolerance=args.tolerance,
                         force=args.force, snapshots=snapshots, snapshots_name=args.snapshots,
                         n_bootstrap=args.bootstrap, seed=args.seed)
    print(result)
    return 0


def _add_monitor(sub) -> None:
    p = sub.add_parser("monitor", help="population stability (PSI) of sub-scores and scores "
                                       "between a reference and a current window")
    p.add_argument("--config", required=True, help="YAML path or shipped default name")
    p.add_argument("--reference", required=True,
                   help="snapshot table of the reference window (fixes the bins), .csv/.parquet")
    p.add_argument("--current", required=True, help="snapshot table of the current window")
    p.add_argument("--out", help="write the PSI table to this .csv or .parquet")
    p.add_argument("--bins", type=_whole(2), default=10,
                   help="quantiles of the reference per bin (default 10: deciles)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_reading(p, plots=("psi", "score_shift"))
    p.set_defaults(run=_run_monitor, inputs=("config", "reference", "current"),
                   outputs=("out",))


def _run_monitor(args) -> int:
    from hscore.monitoring import monitor
    from hscore.scoring.snapshots import read_snapshots
    from hscore.scoring.tables import table_format, write_table

    if args.out:
        table_format(args.out, output=True)
    config = _config(args)
    frames = [read_snapshots(path, date_format=args.date_format)
              for path in (args.reference, args.current)]
    with _progress(args):
        result = monitor(config, *frames, bins=args.bins,
                         names=(f"reference {args.reference}", f"current {args.current}"))
    for note in result.notes:
        print(f"warning: {note}", file=sys.stderr)
    result.print_summary(warnings=False)
    if args.out:
        write_table(result.summary(), args.out)
        print(f"wrote {len(result.table)} PSI rows to {args.out}")
    from hscore.monitoring import plots

    _write_plots(args, {"psi": lambda: plots.psi_bars(result),
                        "score_shift": lambda: plots.score_shift(result)})
    return 0


_COMMANDS = [_add_demo, _add_build, _add_score, _add_calibrate, _add_compare, _add_export,
             _add_promote, _add_monitor]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hscore", description="Customer health scores per lifecycle stage, "
                     "calibrated against churn history.",
                     epilog="exit status: 0 done; 2 bad input (one line on stderr starting with "
                            "'error:'); 1 tracking failed under calibrate --require-tracking")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in _COMMANDS:
        add(sub)
    return parser


def _input_path(name: str, value: str) -> str:
    """The file an input argument reads (a shipped default's name reads the shipped file)."""
    if name == "config":
        from hscore.config import DEFAULTS_DIR, shipped_defaults

        if value in shipped_defaults():
            return str(DEFAULTS_DIR / f"{value}.yaml")
    return value


def guard_outputs(args) -> None:
    """Before any work: no output of the command may be one of its inputs or the store."""
    outputs = {f"--{n}": getattr(args, n) for n in getattr(args, "outputs", ())}
    folder = getattr(args, "plots", None)
    if folder:
        if Path(folder).exists() and not Path(folder).is_dir():
            raise OutputError(f"--plots {folder} is a file, not a folder")
        outputs.update({f"--plots {name}.png": str(Path(folder) / f"{name}.png")
                        for name in args.figures})
    if not any(outputs.values()):
        return
    from hscore.files import refuse_overwrite
    from hscore.mlops.store import protected_paths

    inputs = {f"--{n}": _input_path(n, getattr(args, n)) for n in getattr(args, "inputs", ())
              if getattr(args, n) is not None}
    files, folders = protected_paths()
    refuse_overwrite(outputs, inputs, protected=files, protected_dirs=folders)


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:
        args = build_parser().parse_args(argv)
        guard_outputs(args)
        return args.run(args)
    except DataError as err:
        # Checked after reading, a frame's problem names its column; the one table the
        # command reads (--snapshots) is where the analyst will look for it.
        snapshots = getattr(args, "snapshots", None)
        if snapshots is not None:
            err = err.in_file(snapshots)
        print(f"error: {err.one_line()}", file=sys.stderr)
        return 2
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
        from hscore.mlops.registry import mlflow_message
        from hscore.mlops.store import tracking_uri

        print(f"error: MLflow store {tracking_uri()}: {mlflow_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
