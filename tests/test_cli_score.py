"""``hscore score --config CONFIG --snapshots FILE [--out FILE]``: CSV and Parquet in and
out, the same scores as the Python API, and bad input as one ``error:`` line, exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from hscore import HealthScorer, load_config
from hscore.cli import main

NAN = np.nan
STAGES = ["onboarding", "adoption", "maturity", "renewal"]


def _frame(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Lifecycle snapshots: n/3 accounts, three monthly snapshots each, some values missing."""
    rng = np.random.default_rng(seed)
    cfg = load_config("lifecycle")
    accounts = [f"00{i // 3}" for i in range(n)]  # leading zeros: ids are text
    dates = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"] * (n // 3))
    rows = {"account_id": accounts, "snapshot_date": dates,
            "stage": [STAGES[(i // 3) % 4] for i in range(n)], "seats": rng.integers(1, 50, n)}
    for m in cfg.metric_names:
        spec = cfg.metric_specs(m)[0][2]
        if spec.transform.kind == "boolean":
            v = rng.integers(0, 2, n).astype(float)
        elif spec.domain is not None and spec.domain[1] is not None:
            v = rng.uniform(spec.domain[0], spec.domain[1], n)
        else:
            v = rng.uniform(0, 40, n)
        v[rng.random(n) < 0.1] = NAN
        rows[m] = v
    return pd.DataFrame(rows)


def _run(capsys, *args):
    rc = main(["score", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_one_error_line(rc, out, err, *fragments):
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err and "Traceback" not in out
    for f in fragments:
        assert f in lines[0], lines[0]


def _compare_with_api(written: pd.DataFrame, frame: pd.DataFrame, config="lifecycle"):
    expected = HealthScorer(config).score(frame)
    assert list(written.columns) == list(expected.columns)
    assert written["account_id"].astype(str).tolist() == expected["account_id"].tolist()
    for col in expected.columns:
        if col.startswith(("score", "coverage", "component_", "contribution_")):
            np.testing.assert_allclose(written[col].to_numpy(dtype=float),
                                       expected[col].to_numpy(dtype=float), rtol=1e-12,
                                       atol=1e-12, equal_nan=True, err_msg=col)
    assert written["band"].astype(object).fillna("").tolist() == \
        expected["band"].astype(object).fillna("").tolist()
    assert written["trend_alert"].astype(bool).tolist() == expected["trend_alert"].tolist()


def test_csv_in_csv_out(tmp_path, capsys):
    frame = _frame()
    snapshots = tmp_path / "snap.csv"
    frame.to_csv(snapshots, index=False)
    out_path = tmp_path / "scores.csv"
    rc, out, err = _run(capsys, "--config", "lifecycle", "--snapshots", snapshots,
                        "--out", out_path)
    assert rc == 0, err
    assert err == ""
    assert f"wrote 12 scored rows to {out_path}" in out
    for stage in STAGES:
        assert stage in out  # the per-stage summary
    written = pd.read_csv(out_path, dtype={"account_id": str})
    assert written["account_id"].tolist()[:3] == ["000", "000", "000"]
    assert written["snapshot_date"].tolist()[:3] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    _compare_with_api(written, frame)


def test_parquet_in_parquet_out(tmp_path, capsys):
    frame = _frame(seed=1)
    snapshots = tmp_path / "snap.parquet"
    frame.to_parquet(snapshots, index=False)
    out_path = tmp_path / "sub" / "scores.parquet"  # the directory is created
    rc, out, err = _run(capsys, "--config", "lifecycle", "--snapshots", snapshots,
                        "--out", out_path)
    assert rc == 0, err
    written = pd.read_parquet(out_path)
    assert written["snapshot_date"].dtype.kind == "M"
    _compare_with_api(written, frame)


def test_csv_in_parquet_out_and_a_config_file(tmp_path, capsys):
    frame = _frame(seed=2)
    snapshots = tmp_path / "snap.csv"
    frame.to_csv(snapshots, index=False)
    config = tmp_path / "mine.yaml"
    data = load_config("lifecycle").to_dict()
    data["missing"] = "neutral"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    rc, out, err = _run(capsys, "--config", config, "--snapshots", snapshots,
                        "--out", tmp_path / "scores.parquet")
    assert rc == 0, err
    written = pd.read_parquet(tmp_path / "scores.parquet")
    _compare_with_api(written, pd.read_csv(snapshots, dtype={"account_id": str}),
                      load_config(config))


def test_without_out_only_the_summary_is_printed(tmp_path, capsys):
    snapshots = tmp_path / "snap.parquet"
    _frame().to_parquet(snapshots, index=False)
    rc, out, err = _run(capsys, "--config", "lifecycle", "--snapshots", snapshots)
    assert rc == 0 and err == ""
    assert "wrote" not in out
    assert "mean_score" in out
    assert [p.name for p in tmp_path.iterdir()] == ["snap.parquet"]


# ------------------------------------------------------------------ bad input
def _bad_csv(tmp_path, mutate):
    frame = _frame()
    mutate(frame)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("mutate, fragments", [
    (lambda f: f.loc.__setitem__((4, "stage"), "expansion"),
     ["column 'stage'", "unknown stage 'expansion'", "1 row", "first accounts: 001"]),
    (lambda f: f.loc.__setitem__((5, "snapshot_date"), f.loc[4, "snapshot_date"]),
     ["column 'snapshot_date'", "duplicate", "2 rows", "first accounts: 001;", "first rows: 4, 5"]),
    (lambda f: f.loc.__setitem__((6, "seats"), -4),
     ["column 'seats'", "negative seat counts", "1 row", "first accounts: 002"]),
    (lambda f: f.loc.__setitem__((7, "user_nps"), 150.0),
     ["column 'user_nps'", "[-100, 100]", "1 row", "first accounts: 002"]),
    (lambda f: f.drop(columns="stage", inplace=True),
     ["column 'stage'", "required column is missing"]),
    (lambda f: f.drop(columns="csat", inplace=True),
     ["column 'csat'", "metric column is missing"]),
], ids=["unknown-stage", "duplicate", "negative-seats", "nps-out-of-range", "no-stage",
        "no-metric"])
def test_bad_snapshots_exit_2_with_one_error_line(tmp_path, capsys, mutate, fragments):
    path = _bad_csv(tmp_path, mutate)
    rc, out, err = _run(capsys, "--config", "lifecycle", "--snapshots", path,
                        "--out", tmp_path / "never.csv")
    _assert_one_error_line(rc, out, err, *fragments)
    assert not (tmp_path / "never.csv").exists()  # nothing half-written


def test_non_numeric_metric_in_csv(tmp_path, capsys):
    path = tmp_path / "text.csv"
    frame = _frame()
    frame["csat"] = frame["csat"].astype(object)
    frame.loc[2, "csat"] = "n/a"
    frame.to_csv(path, index=False)
    rc, out, err = _run(capsys, "--config", "lifecycle", "--snapshots", path)
    _assert_one_error_line(rc, out, err, "column 'csat'", "non-numeric values", "1 row",
                           "first accounts: 000")


def test_bad_config_exits_2_with_its_path(tmp_path, capsys):
    snapshots = tmp_path / "snap.csv"
    _frame().to_csv(snapshots, index=False)
    data = load_config("lifecycle").to_dict()
    data["stages"]["renewal"]["components"]["product_usage"]["weight"] = 0.45
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    rc, out, err = _run(capsys, "--config", config, "--snapshots", snapshots)
    _assert_one_error_line(rc, out, err, "stages.renewal.components:",
                           "sum to 1.1, not 1")


def test_config_with_a_python_tag_exits_2(tmp_path, capsys):
    snapshots = tmp_path / "snap.csv"
    _frame().to_csv(snapshots, index=False)
    config = tmp_path / "evil.yaml"
    config.write_text("!!python/object/apply:os.getcwd []\n", encoding="utf-8")
    rc, out, err = _run(capsys, "--config", config, "--snapshots", snapshots)
    _assert_one_error_line(rc, out, err, "not safe YAML")


def test_config_with_many_problems_still_gives_one_line(tmp_path, capsys):
    snapshots = tmp_path / "snap.csv"
    _frame().to_csv(snapshots, index=False)
    data = load_config("lifecycle").to_dict()
    data["bands"] = {"healthy": 10, "at_risk": 90}
    data["stages"]["maturity"]["components"]["product_usage"]["weight"] = -0.4
    config = tmp_path / "multi.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    rc, out, err = _run(capsys, "--config", config, "--snapshots", snapshots)
    _assert_one_error_line(rc, out, err, "bands.healthy",
                           "stages.maturity.components.product_usage.weight")


@pytest.mark.parametrize("args, fragments", [
    (["--config", "lifecycle", "--snapshots", "{tmp}/missing.csv"], ["no such file"]),
    (["--config", "lifecycle", "--snapshots", "{tmp}/snap.xlsx"], ["expected a .csv or .parquet"]),
    (["--config", "nosuch", "--snapshots", "{tmp}/snap.csv"], ["no such config file"]),
    (["--config", "lifecycle", "--snapshots", "{tmp}/snap.csv", "--out", "{tmp}/o.json"],
     ["output must end in .csv or .parquet"]),
    (["--config", "lifecycle"], ["--snapshots"]),
    (["--config", "lifecycle", "--snapshots", "{tmp}/empty.csv"], ["empty"]),
], ids=["no-file", "wrong-suffix", "no-config", "bad-out", "no-snapshots-arg", "empty-csv"])
def test_usage_and_file_errors_exit_2(tmp_path, capsys, args, fragments):
    _frame().to_csv(tmp_path / "snap.csv", index=False)
    (tmp_path / "snap.xlsx").write_bytes(b"PK")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    rc, out, err = _run(capsys, *[a.format(tmp=tmp_path) for a in args])
    _assert_one_error_line(rc, out, err, *fragments)


def test_header_only_csv_is_an_empty_frame(tmp_path, capsys):
    path = tmp_path / "header.csv"
    _frame().iloc[:0].to_csv(path, index=False)
    rc, out, err = _run(capsys, "--config", "lifecycle", "--snapshots", path)
    _assert_one_error_line(rc, out, err, "no rows")
