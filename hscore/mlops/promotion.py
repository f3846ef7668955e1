"""Promotion: the challenger against the champion on one window, then ``@champion`` moves.

:func:`promote` scores the challenger's comparison window
(:func:`hscore.mlops.comparison.comparison_window`) with the challenger and the current
``champion`` and moves ``champion`` when the challenger's AUC is not worse by more than
a tolerance. It decides under the store's lock (:func:`hscore.mlops.store.opened`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hscore import progress
from hscore.calibration.evaluation import with_single_threaded_blas
from hscore.config import Config
from hscore.display import ResultDisplay, Section
from hscore.errors import DataError, HScoreError
from hscore.mlops import store
from hscore.mlops.comparison import compare_versions, comparison_window
from hscore.mlops.registry import by_alias, model_name_in, resolve_version, version_config

__all__ = ["promote", "PromotionResult", "DEFAULT_TOLERANCE", "DECISIONS"]

#: How much lower the challenger's pooled holdout AUC may be and still be promoted.
DEFAULT_TOLERANCE = 0.005
#: What :func:`promote` can decide, and whether ``@champion`` moves to the challenger.
DECISIONS = {"first champion": True, "promoted": True, "forced": True, "kept champion": False,
             "already champion": False}


# ------------------------------------------------------------------ promotion
@dataclass(frozen=True, eq=False, repr=False)
class PromotionResult(ResultDisplay):
    """Challenger against champion on one window, and what promotion did.

    Attributes
    ----------
    challenger, champion : str or None
        Version numbers (``champion`` is the one before this promotion; None if there was none).
    decision : str
        One of :data:`DECISIONS`: ``first champion``, ``promoted``, ``forced``,
        ``kept champion`` or ``already champion``.
    table : DataFrame
        Per cell and pooled (``all``): rows, events, AUC / Brier / log-loss of each version,
        ΔAUC (challenger - champion) with a paired account-bootstrap 95% CI.
        :meth:`summary` returns a copy.
    holdout_from : str
        The window's first day; ``window`` its first and last snapshot dates; ``source``
        where its rows came from.
    tolerance : float
    notes : tuple of str
        What the analyst should know about the decision.
    model_name : str or None
        The registered model (the book) both versions belong to.

    Examples
    --------
    >>> from hscore.mlops.promotion import promote
    >>> result = promote(tolerance=0.01)          # doctest: +SKIP
    >>> result.summary()[["stage", "auc_challenger", "auc_champion", "delta_auc"]]  # doctest: +SKIP
    >>> result.promoted, result.delta_auc         # doctest: +SKIP
    (True, 0.0123)
    """

    challenger: str
    champion: str | None
    decision: str
    table: pd.DataFrame
    holdout_from: str
    window: tuple[str, str]
    source: str
    tolerance: float
    notes: tuple[str, ...] = ()
    model_name: str | None = None

    @property
    def promoted(self) -> bool:
        """Whether ``@champion`` now points at the challenger because of this promotion."""
        return DECISIONS[self.decision]

    @property
    def decisive(self) -> pd.Series:
        """The row the decision reads: pooled ``all``, or the only cell."""
        return self.table.iloc[-1]

    @property
    def delta_auc(self) -> float:
        """The decisive row's AUC of the challenger minus the champion's (NaN without one)."""
        return float(self.decisive.get("delta_auc", np.nan))

    def summary(self) -> pd.DataFrame:
        """The side-by-side table (a copy)."""
        return self.table.copy()

    def _header(self) -> str:
        champ = f"v{self.champion}" if self.champion else "(none)"
        book = f"{self.model_name}: " if self.model_name else ""
        return (f"{book}challenger v{self.challenger} vs champion {champ} on the snapshots from "
                f"{self.window[0]} to {self.window[1]} ({self.source})")

    def _sections(self) -> list[Section]:
        cols = [c for c in self.table.columns if not c.startswith(("brier", "log_loss"))]
        return [Section(None, self.table[cols])]

    def _footer(self) -> list[str]:
        return [f"decision: {self.decision}"
                + (f" -> @champion is v{self.challenger}" if self.promoted else "")
                + f" (tolerance {self.tolerance:g} AUC)", *self.notes]

    def __repr__(self) -> str:
        return (f"PromotionResult(challenger={self.challenger!r}, champion={self.champion!r}, "
                f"decision={self.decision!r})")


def _layout(cfg: Config) -> dict[str, dict[str, tuple[str, ...]]]:
    """What a config scores: stage -> component -> metric names."""
    return {stage: {comp: tuple(c.metrics) for comp, c in s.components.items()}
            for stage, s in cfg.stages.items()}


def _names(items, limit: int = 6) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return "{" + shown + (f", ... {len(items) - limit} more" if len(items) > limit else "") + "}"


def _same_layout(challenger, chal_cfg: Config, champion, champ_cfg: Config) -> None:
    """Refuse to compare versions that score different things: the window has the metrics of
    one of them only, and the champion's place belongs to a model of the same book."""
    a, b = _layout(chal_cfg), _layout(champ_cfg)
    if a == b:
        return
    if set(a) != set(b):
        what = (f"stages {_names(a)} with metrics {_names(_metrics(a))}; the champion "
                f"v{champion.version} scores stages {_names(b)} with metrics "
                f"{_names(_metrics(b))}")
    else:
        diff = [s for s in a if a[s] != b[s]]
        only_a = [m for m in _metrics(a, diff) if m not in set(_metrics(b, diff))]
        only_b = [m for m in _metrics(b, diff) if m not in set(_metrics(a, diff))]
        if only_a or only_b:
            what = (f"stage(s) {_names(diff)} with metrics {_names(only_a)} that the champion "
                    f"v{champion.version} lacks and without {_names(only_b)} that it has")
        else:
            what = (f"stage(s) {_names(diff)} with components "
                    f"{_names(f'{s}.{c}' for s in diff for c in a[s])}; the champion "
                    f"v{champion.version} with {_names(f'{s}.{c}' for s in diff for c in b[s])}")
    raise HScoreError(f"model: challenger v{challenger.version} of {challenger.name} scores "
                      f"{what} -- they are different books; register it under its own name "
                      "with --model-name")


def _metrics(layout, stages=None) -> list[str]:
    """The metric names of ``layout`` (of ``stages`` only, if given), in order, once each."""
    return list(dict.fromkeys(m for s, comps in layout.items() if stages is None or s in stages
                              for ms in comps.values() for m in ms))


def _refit_note(challenger, chal_cfg: Config, window: pd.DataFrame) -> str | None:
    """A challenger whose exported weights were refitted on every labelled row (the
    calibration's ``exported_fit: all``; the version tag for a config that does not record
    it) has seen the labels of its own holdout."""
    prov = chal_cfg.provenance
    fit = (prov and prov.exported_fit) or (getattr(challenger, "tags", None) or {}).get(
        "exported_fit")
    seen = fit == "all" and prov and prov.data_window and prov.data_window.holdout
    if not seen or not (pd.to_datetime(window["snapshot_date"]) <= pd.Timestamp(seen[1])).any():
        return None
    return (f"note: challenger v{challenger.version} was refitted on every labelled row up to "
            f"{seen[1]} (exported_fit: all), rows of this window included: its figures here "
            "are optimistic; compare on later snapshots (--snapshots) or calibrate with "
            "--refit train")


def _overlap_note(champion, champ_cfg: Config, start: pd.Timestamp) -> str | None:
    window = champ_cfg.provenance and champ_cfg.provenance.data_window
    train, horizon = (window.train, window.horizon_days) if window else (None, None)
    if not train or horizon is None:
        return None
    labels_end = pd.Timestamp(train[1]) + pd.Timedelta(days=int(horizon))
    if labels_end > start:
        return (f"note: champion v{champion.version} learned from labels up to "
                f"{labels_end.date()}, inside this window: its figures here are optimistic")
    return None


@with_single_threaded_blas
def promote(version=None, *, model_name: str | None = None,
            tolerance: float = DEFAULT_TOLERANCE, force: bool = False,
            snapshots=None, snapshots_name: str | None = None, n_bootstrap: int = 200,
            seed: int = 0) -> PromotionResult:
    """Compare the challenger with the champion and move ``@champion`` when the challenger
    is good enough.

    Parameters
    ----------
    version : int, str or None
        The challenger: a version number, ``models:/...`` URI or run id; default the version
        with the alias ``challenger``.
    model_name : str, optional
        The registered model (one per book); default the store's only one (with several,
        an error lists them).
    tolerance : float, default 0.005
        The challenger is promoted when its pooled holdout AUC (all stages; the single
        stage's for a one-stage window) is at least the champion's minus ``tolerance``.
    force : bool
        Promote even when the challenger is worse (the decision reads ``forced``).
    snapshots : path or DataFrame, optional
        Score these rows (on or after the challenger's holdout start) instead of the
        holdout the challenger's calibration run logged. See the module docstring.
    snapshots_name : str, optional
        Where a ``snapshots`` frame was read from (shown as the window's source).
    n_bootstrap, seed : int
        Paired account bootstrap for the ΔAUC CIs (0 skips it).

    Returns
    -------
    PromotionResult

    Raises
    ------
    HScoreError
        No such model or version, several models and no ``model_name``, a challenger whose
        stages, components or metrics differ from the champion's (``force`` does not
        override it), or a window that cannot be scored.

    Notes
    -----
    Progress (:mod:`hscore.progress`): the phases resolve, read snapshots, score champion
    and challenger (with the counted step ``bootstrap``) and move alias.

    The first registered version becomes champion without a comparison (its own figures
    on its window are still shown). The decision and its figures are written as tags
    ``promotion.*`` on the challenger's version; a replaced champion gets
    ``replaced_by``. Everything from reading the champion to moving the alias happens
    under the store's lock: of two promotions at once, the second compares its
    challenger with the champion the first one made.

    Examples
    --------
    >>> from hscore.mlops.promotion import promote
    >>> result = promote()               # the version with the alias @challenger  # doctest: +SKIP
    >>> result.decision, result.promoted                                            # doctest: +SKIP
    ('promoted', True)
    >>> result.print_summary()                                                      # doctest: +SKIP
    challenger v4 vs champion v3 on the snapshots from 2025-06-01 to 2025-11-01 (runs:/...)
    ...
    decision: promoted -> @champion is v4 (tolerance 0.005 AUC)
    """
    if not tolerance >= 0:
        raise HScoreError(f"tolerance: must be >= 0, got {tolerance!r}")
    report = progress.current()
    with store.opened(lock=True) as client:
        with report.phase("resolve"):
            name = model_name_in(client, model_name) if version is None else model_name
            challenger = (resolve_version(version, name) if version is not None
                          else by_alias(client, name, "challenger"))
            try:
                champion = by_alias(client, challenger.name, "champion")
            except HScoreError:
                champion = None
            chal_cfg = version_config(challenger)
            configs = {"challenger": chal_cfg}
            if champion is not None and str(champion.version) != str(challenger.version):
                configs["champion"] = version_config(champion)
                _same_layout(challenger, chal_cfg, champion, configs["champion"])
        with report.phase("read snapshots"):
            window, start, source = comparison_window(challenger, chal_cfg, snapshots,
                                                      snapshots_name)
        notes = [_refit_note(challenger, chal_cfg, window)]
        if "champion" in configs and start is not None:   # an account holdout has no start
            notes.append(_overlap_note(champion, configs["champion"], start))
        with report.phase("score champion and challenger"):
            try:
                table = compare_versions(configs, window, n_bootstrap=n_bootstrap, seed=seed)
            except DataError as err:
                raise HScoreError(f"the comparison window ({source}) cannot be scored by both "
                                  f"versions: {err.one_line()}") from None
        if table.empty:
            raise HScoreError(f"snapshots: no row of the window ({source}) has a score under "
                              "both versions")
        from hscore.mlops.drift import drift_notes      # PSI lines (hscore.monitoring)
        notes += drift_notes(champion or challenger, configs.get("champion", chal_cfg),
                             window, snapshots, snapshots_name)
        decision = _decide(table.iloc[-1], challenger, champion, tolerance, force, source,
                           notes)
        dates = pd.to_datetime(window["snapshot_date"])
        result = PromotionResult(str(challenger.version),
                                 str(champion.version) if champion else None, decision, table,
                                 str(start.date()) if start is not None else "(account holdout)",
                                 (str(dates.min().date()), str(dates.max().date())), source,
                                 tolerance, tuple(n for n in notes if n), challenger.name)
        with report.phase("move alias" if result.promoted else "record decision"):
            _record(client, challenger, champion, result)
    return result


def _decide(row: pd.Series, challenger, champion, tolerance: float, force: bool, source: str,
            notes: list) -> str:
    """The decision on the decisive row of the table (notes gain why, where it helps)."""
    if champion is None:
        notes.append("no champion yet: the challenger becomes it")
        return "first champion"
    if str(champion.version) == str(challenger.version):
        return "already champion"
    a_chal, a_champ = row["auc_challenger"], row["auc_champion"]
    if np.isnan(a_chal) or np.isnan(a_champ):
        if not force:
            raise HScoreError(f"snapshots: the window ({source}) has no churn events or "
                              "no retained rows, so AUC cannot compare the versions; "
                              "pass --force to promote anyway")
        return "forced"
    if a_chal >= a_champ - tolerance:
        return "promoted"
    if force:
        return "forced"
    notes.append(f"the challenger's AUC is {a_champ - a_chal:.4f} below the "
                 "champion's; --force promotes it anyway")
    return "kept champion"


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.4f}"


def _record(client, challenger, champion, result: PromotionResult) -> None:
    """Decision and figures into the challenger's tags; then move the alias (under the lock
    :func:`promote` holds)."""
    if result.decision == "already champion":
        return
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = result.table.iloc[-1]
    tags = {"promotion.decision": result.decision, "promotion.time": now,
            "promotion.previous_champion": str(champion.version) if champion else "none",
            "promotion.window": f"{result.window[0]}..{result.window[1]}",
            "promotion.window_source": result.source,
            "promotion.tolerance": f"{result.tolerance:g}",
            "promotion.rows": str(row["rows"]), "promotion.events": str(row["events"]),
            "promotion.auc_challenger": _fmt(row["auc_challenger"])}
    if "auc_champion" in result.table:
        tags.update({"promotion.auc_champion": _fmt(row["auc_champion"]),
                     "promotion.delta_auc": _fmt(row["delta_auc"]),
                     "promotion.delta_auc_ci": f"[{_fmt(row['delta_auc_low'])}, "
                                               f"{_fmt(row['delta_auc_high'])}]"})
    for _, r in result.table.iterrows():
        figures = _fmt(r["auc_challenger"])
        if "auc_champion" in r:
            figures += f" vs {_fmt(r['auc_champion'])}"
        tags[f"promotion.auc.{r['stage']}"] = figures
    for k, v in tags.items():
        client.set_model_version_tag(challenger.name, challenger.version, k, v)
    if result.promoted:
        client.set_registered_model_alias(challenger.name, "champion", challenger.version)
        if champion is not None:
            client.set_model_version_tag(champion.name, champion.version, "replaced_by",
                                         str(challenger.version))
            client.set_model_version_tag(champion.name, champion.version, "replaced_at", now)
