"""Rolling-origin backtest: no look-ahead (proved two ways), hand-made PAI/PEI, JSON contract."""

import json

import numpy as np
import pandas as pd
import pytest

from analytics.backtest import (
    backtest_counts,
    coverage,
    hit_rates,
    inject_outbreaks,
    rolling_forecasts,
    score_alarms,
)
from analytics.models import MODELS, MeanLastK
from analytics.service.evaluation import backtest_file


def synth_counts(n_areas=15, n_periods=120, seed=0, cats=("a",), start="2021-01-04"):
    rng = np.random.default_rng(seed)
    periods = pd.date_range(start, periods=n_periods, freq="W-MON")
    season = 1 + 0.3 * np.sin(2 * np.pi * periods.day_of_year.to_numpy() / 365.25)
    base = rng.gamma(0.8, 2.5, size=n_areas)
    lam = base[:, None] * season[None, :] * rng.gamma(5, 1 / 5, size=(n_areas, n_periods))
    return pd.DataFrame({
        "area_id": np.repeat([f"A{i:03d}" for i in range(n_areas)], n_periods),
        "period": np.tile(periods, n_areas),
        "category": cats[0],
        "count": rng.poisson(lam).ravel().astype("int64"),
    })


@pytest.fixture(scope="module")
def counts():
    return synth_counts(n_areas=15, n_periods=120, cats=("a",), seed=11)


# -- no look-ahead -------------------------------------------------------------------------------
class Recorder(MeanLastK):
    """A model that records the last period it was fitted on."""

    seen: list = []

    def _fit_matrix(self, Y):
        Recorder.seen.append(self.periods_.max())
        super()._fit_matrix(Y)


def test_no_model_sees_its_origin_or_later(counts):
    periods = sorted(counts["period"].unique())
    test = periods[-10:]
    Recorder.seen = []
    rolling_forecasts(counts, lambda: Recorder(k=4), test)
    assert len(Recorder.seen) == 10
    for t, seen in zip(test, Recorder.seen):
        assert seen < t and seen == periods[periods.index(t) - 1]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_poisoned_future_does_not_change_forecasts(name, counts):
    periods = sorted(counts["period"].unique())
    test = periods[-12:-4] if name != "gbm" else periods[-6:-4]  # gbm: slowest fit
    poisoned = counts.copy()
    future = poisoned["period"] > test[-1]
    poisoned.loc[future, "count"] = 10_000
    kw = {"neighbours": {f"A{i:03d}": [f"A{(i + 1) % 15:03d}"] for i in range(15)}}
    a = rolling_forecasts(counts, name, test, **kw)
    b = rolling_forecasts(poisoned, name, test, **kw)
    pd.testing.assert_frame_equal(a[["area_id", "period", "mu", "alpha", "observed"]],
                                  b[["area_id", "period", "mu", "alpha", "observed"]])
    # and poisoning a period the model may see does change them (the test can fail)
    c = counts.copy()
    c.loc[c["period"] < test[0], "count"] += 50  # the whole visible history
    changed = rolling_forecasts(c, name, test[:1], **kw)
    assert not np.allclose(changed["mu"], a[a["period"] == test[0]]["mu"]) \
        or not np.allclose(changed["alpha"], a[a["period"] == test[0]]["alpha"])


# -- hit rate, PAI, PEI ---------------------------------------------------------------------------
def test_hit_rates_hand_made():
    # 10 cells, 2 periods; a = 0.10 -> k = 1 cell, a = 0.20 -> k = 2 cells
    f = np.array([[9, 8, 7, 1, 1, 1, 1, 1, 1, 0],
                  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], float)
    o = np.array([[2, 0, 1, 0, 0, 0, 0, 0, 3, 0],
                  [0, 0, 0, 0, 0, 0, 0, 0, 1, 3]], float)
    r = hit_rates(f, o, shares=(0.10, 0.20))
    # period 1: top-1 = cell 0 (2 events); best = 3. period 2: top-1 = cell 9 (3); best 3.
    assert r["hit_rate"]["0.10"] == pytest.approx((2 + 3) / 10)
    assert r["pai"]["0.10"] == pytest.approx(5 / 10 / 0.10)
    assert r["pei"]["0.10"] == pytest.approx(5 / 6)
    # top-2: period 1 cells 0,1 -> 2 events (best 3+2=5); period 2 cells 9,8 -> 4 (best 4)
    assert r["hit_rate"]["0.20"] == pytest.approx(6 / 10)
    assert r["pei"]["0.20"] == pytest.approx(6 / 9)


def test_pai_divides_by_the_share_actually_flagged():
    # 119 cells at 1 %: round(1.19) = 1 cell is flagged, 1/119 of the area, not 1 %
    rng = np.random.default_rng(4)
    f = rng.random((3, 119))
    o = rng.poisson(1.0, size=(3, 119)).astype(float)
    r = hit_rates(f, o, shares=(0.01, 0.10))
    top = np.argmax(f, axis=1)
    hr = o[np.arange(3), top].sum() / o.sum()
    assert r["hit_rate"]["0.01"] == pytest.approx(hr)
    assert r["pai"]["0.01"] == pytest.approx(hr / (1 / 119))
    assert r["pai"]["0.01"] == pytest.approx(1.19 * r["hit_rate"]["0.01"] / 0.01)
    assert r["pai"]["0.10"] == pytest.approx(r["hit_rate"]["0.10"] / (12 / 119))


def test_hit_rate_ties_share_slots():
    f = np.array([[5, 5, 5, 5, 0]], float)  # four cells tied for one slot (k = round(0.2*5))
    o = np.array([[4, 0, 0, 0, 1]], float)
    r = hit_rates(f, o, shares=(0.20,))
    assert r["hit_rate"]["0.20"] == pytest.approx((4 * 1 / 4) / 5)
    # order of the tied cells does not matter
    r2 = hit_rates(f[:, ::-1], o[:, ::-1], shares=(0.20,))
    assert r2["hit_rate"]["0.20"] == pytest.approx(r["hit_rate"]["0.20"])


def test_pit_coverage_is_nominal_for_a_true_model():
    rng = np.random.default_rng(0)
    mu = rng.gamma(0.5, 0.5, size=40_000)  # sparse cells
    y = rng.poisson(mu)
    assert coverage(y, mu, 0.0, 0.90) == pytest.approx(0.90, abs=0.01)
    assert coverage(y, mu, 0.0, 0.80) == pytest.approx(0.80, abs=0.01)
    # the plain discrete interval over-covers in sparse cells, whatever the model
    assert coverage(y, mu, 0.0, 0.90, pit=False) > 0.95
    # a too-narrow forecast under-covers
    assert coverage(rng.poisson(mu * 3), mu, 0.0, 0.90) < 0.85


# -- scores and alarms ---------------------------------------------------------------------------
def test_backtest_counts_scores(counts):
    periods = sorted(counts["period"].unique())
    r = backtest_counts(counts, start=periods[-8], models=["mean4", "glm", "eb"])
    assert r["n_cells"] == 15 and r["n_periods"] == 8
    assert r["n_events"] == int(counts[counts["period"] >= periods[-8]]["count"].sum())
    for s in r["models"].values():
        assert set(s["pai"]) == {"0.01", "0.05", "0.10"}
        assert 0 <= s["hit_rate"]["0.10"] <= 1 and s["crps"] > 0 and 0 < s["coverage_90"] <= 1
        k = max(1, round(0.10 * 15))  # cells flagged: 2 of 15, not 10 %
        assert s["pai"]["0.10"] == pytest.approx(s["hit_rate"]["0.10"] / (k / 15))
    with pytest.raises(ValueError, match="no test period"):
        backtest_counts(counts, start="2099-01-01", models=["mean4"])


def test_inject_and_score_alarms(counts):
    periods = sorted(counts["period"].unique())
    test = periods[-20:]
    injected, truth = inject_outbreaks(counts, test[:-3], n=8, duration=3, seed=4)
    assert injected["count"].sum() - counts["count"].sum() == truth["extra"].sum()
    fc = rolling_forecasts(injected, "ears_c2", test, statistic=True)
    # an oracle statistic (1 inside an outbreak) detects everything at once
    oracle = fc.copy()
    key = oracle["area_id"] + "|" + oracle["category"]
    inside = np.zeros(len(oracle), bool)
    for ob in truth.itertuples():
        inside |= ((key == f"{ob.area_id}|{ob.category}") & (oracle["period"] >= ob.start)
                   & (oracle["period"] <= ob.end)).to_numpy()
    oracle["statistic"] = inside.astype(float)
    res = score_alarms({"ears_c2": fc, "oracle": oracle}, truth, target_far=0.02)
    assert res["oracle"]["pod"] == 1.0 and res["oracle"]["median_delay"] == 0
    assert res["ears_c2"]["false_alarms_per_100"] <= 2.0 + 1e-9
    assert 0 <= res["ears_c2"]["pod"] <= 1


# -- from an incident file -------------------------------------------------------------------------
def _incident_file(tmp_path, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-01-03")
    hot = rng.random(n) < 0.4
    lon = np.where(hot, 106.70 + rng.normal(0, 0.002, n), rng.uniform(106.68, 106.72, n))
    lat = np.where(hot, 26.57 + rng.normal(0, 0.002, n), rng.uniform(26.55, 26.59, n))
    t = start + pd.to_timedelta(rng.uniform(0, 7 * 104, n), unit="D")
    df = pd.DataFrame({"incident_id": [f"i{i}" for i in range(n)], "occurred_at": t,
                       "category": rng.choice(["盗窃", "抢劫"], n), "lon": lon, "lat": lat})
    path = tmp_path / "incidents.csv"
    df.to_csv(path, index=False)
    return path, df


def test_backtest_file_json_contract(tmp_path):
    path, df = _incident_file(tmp_path)
    out = backtest_file(path, cell=500, freq="W", start="2023-10-02", models=["mean15", "eb"])
    json.dumps(out)  # serialisable
    for k in ("n_cells", "n_periods", "n_events", "cell_m", "freq", "models"):
        assert k in out
    assert out["cell_m"] == 500 and out["freq"] == "W" and out["n_cells"] > 20
    test_events = df[pd.to_datetime(df["occurred_at"]) >= "2023-10-02"]
    # the data reach Sunday 2023-12-31 (15:50), so the week of 12-25 is complete by the board's
    # rule (data.calendar.is_complete, as of the end of the last day with data)
    last_full = pd.Timestamp("2023-12-25")
    assert out["n_events"] <= len(test_events[pd.to_datetime(test_events["occurred_at"]) < last_full + pd.Timedelta(days=7)])
    assert out["n_periods"] == 13
    for name in ("mean15", "eb"):
        m = out["models"][name]
        assert set(m["hit_rate"]) == {"0.01", "0.05", "0.10"}
        for k in ("pai", "pei", "crps", "coverage_90", "seconds"):
            assert k in m
    one = backtest_file(path, cell=500, start="2023-10-02", category="抢劫", models=["mean4"])
    assert one["n_events"] < out["n_events"] and one["category"] == "抢劫"


def test_study_area_from_training_events_only(tmp_path):
    from analytics.backtest import grid_counts

    _, df = _incident_file(tmp_path)
    cut = pd.Timestamp("2023-10-02")
    t = pd.to_datetime(df["occurred_at"])
    # a new estate 3 km east that appears only in the test period: 10 % of the test events
    rng = np.random.default_rng(9)
    n_new = int(0.1 * (t >= cut).sum())
    new = pd.DataFrame({"incident_id": [f"n{i}" for i in range(n_new)],
                        "occurred_at": cut + pd.to_timedelta(rng.uniform(0, 70, n_new), unit="D"),
                        "category": "盗窃", "lon": 106.75 + rng.normal(0, 0.001, n_new),
                        "lat": 26.57 + rng.normal(0, 0.001, n_new)})
    with_new = pd.concat([df, new], ignore_index=True)
    _, info = grid_counts(with_new, 500, train_end=cut)
    _, info_train = grid_counts(df[t < cut], 500, train_end=cut)
    assert list(info["cells"]) == list(info_train["cells"])


def test_backtest_file_errors(tmp_path):
    path, _ = _incident_file(tmp_path, n=500)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        backtest_file(tmp_path / "nope.csv", cell=500, start="2023-01-02")
    with pytest.raises(ValueError, match="--models 'prophet'"):
        backtest_file(path, cell=500, start="2023-01-02", models=["prophet"])
    with pytest.raises(ValueError, match="--category"):
        backtest_file(path, cell=500, start="2023-01-02", category="诈骗")


def test_cli_backtest(tmp_path):
    from app import main

    path, _ = _incident_file(tmp_path, n=1500)
    out = tmp_path / "bt" / "result.json"
    assert main(["backtest", "--incidents", str(path), "--cell", "500", "--start", "2023-11-06",
                 "--models", "mean4", "eb", "--json", str(out)]) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    assert set(res["models"]) == {"mean4", "eb"} and res["cell_m"] == 500
    assert main(["backtest", "--incidents", str(tmp_path / "missing.parquet"), "--cell", "500",
                 "--start", "2023-01-02", "--json", str(out)]) == 2


def test_backtest_progress_fractions_increase_to_one(counts):
    periods = sorted(counts["period"].unique())
    calls, models_done = [], []
    r = backtest_counts(counts, start=periods[-5], models=["mean4", "glm"],
                        progress=lambda f, label: calls.append((f, label)),
                        on_model=lambda name, scores: models_done.append((name, scores["crps"])))
    fractions = [f for f, _ in calls]
    # 5 test periods + the scores, for each of two models
    assert len(calls) == 2 * 6 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 0 < fractions[0] < fractions[5] == pytest.approx(0.5)
    assert calls[0][1] == "mean4 1/5" and calls[6][1] == "glm 1/5"
    assert models_done == [(n, r["models"][n]["crps"]) for n in ("mean4", "glm")]


def _run_cli(args: list[str], *, tty: bool) -> tuple[int, str, str]:
    """``pingan ARGS`` in a subprocess; stderr a pipe, or a pseudo-terminal 100 columns wide."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios
    import threading

    cmd = [sys.executable, "-c", "import sys; from app import main; sys.exit(main(sys.argv[1:]))", *args]
    if not tty:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # keep the terminal's buffer from filling up
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120)
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    return p.returncode, p.stdout, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_cli_progress_bar_only_on_a_terminal(tmp_path):
    path, _ = _incident_file(tmp_path, n=1500)
    args = ["backtest", "--incidents", str(path), "--cell", "500", "--start", "2023-11-06",
            "--models", "mean4", "eb", "--json", str(tmp_path / "r.json")]
    code, out, err = _run_cli(args, tty=False)  # piped stderr (tests, CI): no bar at all
    assert code == 0 and err == "" and out.strip() == f"wrote {tmp_path / 'r.json'}"
    code, out, err = _run_cli(args, tty=True)
    assert code == 0 and "backtest" in err and "100%" in err and "eb" in err
    assert "%|" not in out  # the bar never reaches stdout
    code, out, err = _run_cli([*args, "--quiet"], tty=True)
    assert code == 0 and "%|" not in err


def test_cli_backtest_with_risk_factors_feeds_the_pooled_model(tmp_path):
    """``--risk-factors``: every cell gets its distance/density to each factor type; gbm learns
    from them (its forecasts change), the other models do not, and the JSON names the types."""
    from app import main

    path, _ = _incident_file(tmp_path, n=1500)
    places = tmp_path / "places.csv"
    pd.DataFrame({"type": ["网吧", "网吧", "公交站"], "lon": [106.700, 106.701, 106.69],
                  "lat": [26.570, 26.571, 26.58]}).to_csv(places, index=False, encoding="utf-8-sig")
    runs = {}
    for tag, extra in (("plain", []), ("risk", ["--risk-factors", str(places)])):
        out = tmp_path / f"{tag}.json"
        assert main(["backtest", "--incidents", str(path), "--cell", "500", "--start", "2023-11-06",
                     "--models", "gbm", "eb", *extra, "--json", str(out)]) == 0
        runs[tag] = json.loads(out.read_text(encoding="utf-8"))
    assert runs["risk"]["risk_factors"] == ["公交站", "网吧"] and "risk_factors" not in runs["plain"]
    assert runs["risk"]["models"]["eb"]["log_score"] == runs["plain"]["models"]["eb"]["log_score"]
    assert runs["risk"]["models"]["gbm"]["log_score"] != runs["plain"]["models"]["gbm"]["log_score"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"kind": ["网吧"], "lon": [106.7], "lat": [26.57]}).to_csv(bad, index=False)
    assert main(["backtest", "--incidents", str(path), "--cell", "500", "--start", "2023-11-06",
                 "--models", "gbm", "--risk-factors", str(bad), "--json", str(tmp_path / "x.json")]) == 2


def test_grid_related_counts_the_other_categories_on_the_same_cells(tmp_path):
    from analytics.backtest import grid_counts, grid_related
    from data.cube import to_matrix

    _, df = _incident_file(tmp_path)
    df = df.assign(occurred_at=pd.to_datetime(df["occurred_at"]))
    mine, others = df[df["category"] == "抢劫"], df[df["category"] != "抢劫"]
    counts, info = grid_counts(mine, 500, train_end="2023-10-02")
    m = to_matrix(counts)
    rel = grid_related(others, info, 500, "W", m.periods)
    assert set(rel.index) == set(m.keys["area_id"]) and list(rel.columns) == list(m.periods)
    # the same counts by the grid's own counting of the other rows (cells both study areas share)
    o_counts, _ = grid_counts(others, 500, train_end="2024-01-01", crs=info["crs"])
    o = o_counts.pivot_table(index="area_id", columns="period", values="count", aggfunc="sum")
    shared = rel.index.intersection(o.index)
    assert len(shared) > 0.8 * len(rel)
    np.testing.assert_array_equal(rel.loc[shared, m.periods].to_numpy(),
                                  o.loc[shared, m.periods].to_numpy())
    assert rel.to_numpy().sum() <= len(others)


def test_cli_backtest_gives_blend_the_other_categories(tmp_path):
    """``--category``: the file's other incidents are counted on the same cells for ``blend``
    (``related`` in the JSON); ``--no-related`` leaves them out; other models are unchanged."""
    from app import main

    path, df = _incident_file(tmp_path, n=4000, seed=5)
    runs = {}
    for tag, extra in (("related", []), ("alone", ["--no-related"])):
        out = tmp_path / f"{tag}.json"
        assert main(["backtest", "--incidents", str(path), "--cell", "500", "--start", "2023-10-02",
                     "--category", "抢劫", "--models", "blend", "eb", *extra, "--json", str(out)]) == 0
        runs[tag] = json.loads(out.read_text(encoding="utf-8"))
    assert runs["related"]["related"] == int((df["category"] != "抢劫").sum())
    assert "related" not in runs["alone"]
    assert runs["related"]["models"]["eb"] == {**runs["alone"]["models"]["eb"],
                                               "seconds": runs["related"]["models"]["eb"]["seconds"]}
    assert runs["related"]["models"]["blend"]["log_score"] != runs["alone"]["models"]["blend"]["log_score"]
    # every category together: nothing else to learn from
    out = tmp_path / "all.json"
    assert main(["backtest", "--incidents", str(path), "--cell", "500", "--start", "2023-10-02",
                 "--models", "blend", "--json", str(out)]) == 0
    assert "related" not in json.loads(out.read_text(encoding="utf-8"))
