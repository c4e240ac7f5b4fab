"""Rolling-origin backtest of every model: hit rate, PAI, PEI, CRPS, coverage, alarms.

For each test period ``t`` (expanding window) every model is fitted on the periods strictly
before ``t`` — the backtest slices the count matrix, so no model can see ``t`` or later — and
predicts ``t`` one step ahead. Scores (design.md, "Backtest JSON"):

- **hit rate** at area share ``a``: events of the test periods in the top ``k = round(a N)``
  cells (``N`` cells of the study area) ranked by that period's forecast, over all events of
  the test periods. Cells tied at the cut-off share the remaining slots: they contribute
  their events times ``slots / tied`` (the expected value of a random tie-break) — the result
  is deterministic and no model gains from an arbitrary order.
- **PAI** = hit rate / (k / N), the share of area actually flagged (``a`` only approximately:
  119 cells at 1 % flag 1 cell, 0.84 %).  **PEI** = hit rate / best possible hit rate with
  ``k`` cells.
- **CRPS** (discrete, mean over cells × periods), **log score** (mean ``-log P(y)``),
  **coverage** of the central 80/90/95% intervals ``[q_(1-c)/2, q_(1+c)/2]``.
- **Alarms** on injected outbreaks (:func:`inject_outbreaks`, :func:`score_alarms`):
  probability of detection, false alarms per 100 area-periods and median delay, each
  detector's threshold chosen so its false-alarm rate on outbreak-free area-periods is at most
  the target — detectors are compared at matched false-alarm rates.

:func:`backtest_file` grids a canonical incident file and returns the stable JSON of
design.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analytics.distributions import cdf, crps, logpmf, quantile
from analytics.models import MODELS, CountModel, make_model
from data.calendar import data_as_of, is_complete, period_range, period_start
from data.cube import CountMatrix, count_cube, to_matrix
from data.taxonomy import ALL

__all__ = [
    "SHARES",
    "backtest_counts",
    "backtest_incidents",
    "coverage",
    "grid_counts",
    "hit_rates",
    "inject_outbreaks",
    "rolling_forecasts",
    "score_alarms",
]

#: Area shares of the hit-rate / PAI / PEI scores (JSON keys "0.01", "0.05", "0.10").
SHARES: tuple[float, ...] = (0.01, 0.05, 0.10)

ModelSpec = str | Callable[[], CountModel]


# -- rolling origin ------------------------------------------------------------------------------
def rolling_forecasts(counts: pd.DataFrame, model: ModelSpec, test_periods: Sequence,
                      *, neighbours=None, parent=None, coords=None,
                      statistic: bool = False) -> pd.DataFrame:
    """One-step-ahead forecasts of every test period, each from a model fitted on earlier periods.

    Parameters
    ----------
    counts : DataFrame
        Tidy dense counts covering the training history and the test periods.
    model : str or callable
        Registry name (:data:`analytics.models.MODELS`) or a factory returning a fresh model.
    test_periods : sequence of Timestamp
        Periods to forecast; each must be preceded by at least one period.
    neighbours, parent, coords
        Spatial context passed to :func:`analytics.models.make_model` (``coords``: DataFrame
        ``area_id, x, y`` of area centroids in metres).
    statistic : bool
        Also return each model's alarm statistic of the observed count (``statistic``).

    Returns
    -------
    DataFrame
        ``area_id, category, period, mu, alpha, observed`` (+ ``statistic``), with
        ``attrs["seconds"]`` the fit + predict time.
    """
    return _rolling(to_matrix(counts), model, test_periods, neighbours=neighbours,
                    parent=parent, coords=coords, statistic=statistic)


def _rolling(m: CountMatrix, model, test_periods, *, neighbours=None, parent=None, coords=None,
             statistic=False) -> pd.DataFrame:
    test = pd.DatetimeIndex(pd.to_datetime(list(test_periods)))
    mu, alpha, stat, seconds = _rolling_arrays(m, model, test, neighbours=neighbours,
                                               parent=parent, coords=coords, statistic=statistic)
    n = len(m.keys)
    j = m.periods.get_indexer(test)
    result = pd.DataFrame({
        "area_id": np.tile(m.keys["area_id"].to_numpy(), len(test)),
        "category": np.tile(m.keys["category"].to_numpy(), len(test)),
        "period": np.repeat(test.to_numpy(), n),
        "mu": mu.ravel(), "alpha": alpha.ravel(), "observed": m.Y[:, j].T.ravel(),
    })
    if statistic:
        result["statistic"] = stat.ravel()
    result.attrs["seconds"] = seconds
    return result


def _rolling_arrays(m: CountMatrix, model, test, *, neighbours=None, parent=None, coords=None,
                    statistic=False, tick: Callable[[int], None] | None = None, static=None,
                    related=None):
    """``(mu, alpha, statistic, seconds)``, arrays of shape ``(len(test), len(m.keys))``.

    ``tick(i)`` is called after the ``i``-th (1-based) test period has been forecast.
    ``related`` (the other categories' counts, :func:`analytics.models.make_model`) covers every
    period; a model reads only the periods of its fit, by label.
    """
    factory = (lambda: make_model(model, neighbours=neighbours, parent=parent, coords=coords,
                                  static=static, related=related)) if isinstance(model, str) else model
    shape = (len(test), len(m.keys))
    mu, alpha = np.empty(shape), np.empty(shape)
    stat = np.full(shape, np.nan)
    seconds = 0.0
    for i, t in enumerate(test):
        j = m.periods.get_loc(t)
        if j < 1:
            raise ValueError(f"test period {t.date()}: no earlier period to fit on")
        t0 = time.perf_counter()
        # Only columns < j reach the model: it cannot see the test period or anything later.
        fitted = factory().fit(m.head(j))
        mu_i, alpha_i = fitted.predict(1, as_arrays=True)  # rows follow m.keys
        seconds += time.perf_counter() - t0
        mu[i], alpha[i] = mu_i[:, 0], alpha_i[:, 0]
        if statistic:
            stat[i] = fitted.alarm_statistic(m.keys.assign(count=m.Y[:, j]))["statistic"].to_numpy()
        if tick is not None:
            tick(i + 1)
    return mu, alpha, stat, seconds


# -- scores --------------------------------------------------------------------------------------
def hit_rates(forecast: np.ndarray, observed: np.ndarray,
              shares: Iterable[float] = SHARES) -> dict[str, dict[str, float]]:
    """Hit rate, PAI and PEI at each area share.

    Parameters
    ----------
    forecast, observed : (n_periods, n_cells) arrays
        Forecast (any risk score; higher = riskier) and event counts per test period and
        cell of the study area.

    Returns
    -------
    dict
        ``{"hit_rate": {"0.01": …}, "pai": {…}, "pei": {…}}``.
    """
    F = np.atleast_2d(np.asarray(forecast, float))
    Obs = np.atleast_2d(np.asarray(observed, float))
    n = F.shape[1]
    total = Obs.sum()
    out: dict[str, dict[str, float]] = {"hit_rate": {}, "pai": {}, "pei": {}}
    for a in shares:
        k = max(1, int(round(a * n)))
        hits = best = 0.0
        for f, o in zip(F, Obs):  # loop over test periods, vectorised over cells
            v = np.partition(f, n - k)[n - k]  # k-th largest forecast
            above = f > v
            tied = f == v
            slots = k - above.sum()
            hits += o[above].sum() + o[tied].sum() * slots / tied.sum()
            best += np.partition(o, n - k)[n - k:].sum()
        key = f"{a:.2f}"
        hr = hits / total if total > 0 else float("nan")
        out["hit_rate"][key] = hr
        out["pai"][key] = hr / (k / n)
        out["pei"][key] = hits / best if best > 0 else float("nan")
    return out


def coverage(observed, mu, alpha, level: float, *, pit: bool = True) -> float:
    """Coverage of the central ``level`` prediction interval.

    With ``pit=True`` (the default, used for ``coverage_80/90/95``) an observation ``y`` covers
    the share of its probability step ``[F(y-1), F(y)]`` that falls inside
    ``[(1-level)/2, (1+level)/2]`` — the expected coverage of the randomised PIT, which is
    exactly ``level`` for a calibrated count forecast. The plain discrete interval
    ``[q_lo, q_hi]`` (``pit=False``) over-covers by construction when counts are small: in a
    cell with mean 0.1 the 90% interval is [0, 0] or [0, 1] and covers ~95–100% whatever the
    model.
    """
    y = np.asarray(observed, float)
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    if not pit:
        lo = quantile(lo_p, mu, alpha)
        hi = quantile(hi_p, mu, alpha)
        return float(np.mean((y >= lo) & (y <= hi)))
    a = np.where(y > 0, cdf(y - 1, mu, alpha), 0.0)
    b = cdf(y, mu, alpha)
    inside = np.clip(np.minimum(b, hi_p) - np.maximum(a, lo_p), 0.0, None)
    width = b - a
    share = np.divide(inside, width, out=np.zeros_like(width), where=width > 1e-15)
    return float(np.mean(share))


def _scores(mu: np.ndarray, alpha: np.ndarray, obs: np.ndarray, sparse: np.ndarray,
            seconds: float) -> dict:
    """All scores from ``(n_test, n_cells)`` arrays (cells = the study area)."""
    res = hit_rates(mu, obs)
    y, m, a = obs.ravel(), mu.ravel(), alpha.ravel()
    res["crps"] = float(np.mean(crps(y, m, a)))
    res["log_score"] = float(np.mean(-logpmf(y, m, a)))
    for c in (0.80, 0.90, 0.95):
        res[f"coverage_{round(c * 100)}"] = coverage(y, m, a, c)
    res["coverage_90_interval"] = coverage(y, m, a, 0.90, pit=False)
    res["coverage_90_sparse"] = (coverage(obs[:, sparse].ravel(), mu[:, sparse].ravel(),
                                          alpha[:, sparse].ravel(), 0.90)
                                 if sparse.any() else float("nan"))
    res["seconds"] = float(seconds)
    return res


def backtest_counts(counts: pd.DataFrame, *, start, end=None, models: Sequence[ModelSpec] | None = None,
                    neighbours=None, parent=None, coords=None, sparse_mean: float = 0.5,
                    on_model: Callable[[str, dict], None] | None = None,
                    progress: Callable[[float, str], None] | None = None, static=None,
                    related=None) -> dict:
    """Rolling-origin scores of each model on tidy counts (one category, or summed over all).

    Returns ``{"n_cells", "n_periods", "n_events", "freq", "models": {name: scores}}`` where
    scores hold ``hit_rate``/``pai``/``pei`` by share, ``crps``, ``log_score``,
    ``coverage_80/90/95``, ``coverage_90_sparse`` (cells whose training mean is below
    ``sparse_mean``) and ``seconds``. ``on_model(name, scores)`` is called after each model;
    ``progress(fraction, label)`` after each forecast test period, with non-decreasing fractions
    ending at 1.0 (label: the model and the period count, e.g. ``"glm 12/51"``). ``static``: the
    cells' risk-terrain features (:func:`analytics.models.make_model`), for the pooled model;
    ``related``: the other categories' counts per cell and period, for ``blend``.
    """
    counts = _single_category(counts)
    m = to_matrix(counts)
    keys, periods, Y = m.keys, m.periods, m.Y
    test = periods[(periods >= pd.Timestamp(start)) & ((periods <= pd.Timestamp(end)) if end else True)]
    if len(test) == 0:
        raise ValueError(f"start={start}, end={end}: no test period inside the counts "
                         f"({periods[0].date()} .. {periods[-1].date()})")
    if (periods < test[0]).sum() < 2:
        raise ValueError(f"start={start}: need at least two periods of history before it")
    names = list(models) if models else list(MODELS)
    j = periods.get_indexer(test)
    sparse = Y[:, : j[0]].mean(1) < sparse_mean
    obs = Y[:, j].T
    result = {
        "n_cells": len(keys),
        "n_periods": len(test),
        "n_events": int(obs.sum()),
        "freq": m.freq,
        "models": {},
    }
    per_model = len(test) + 1  # each test period, then the scores
    steps = len(names) * per_model
    for n_done, spec in enumerate(names):
        name = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
        tick = None
        if progress is not None:
            def tick(i: int, name=name, base=n_done * per_model) -> None:
                progress((base + i) / steps, f"{name} {i}/{per_model - 1}")
        mu, alpha, _, seconds = _rolling_arrays(m, spec, test, neighbours=neighbours,
                                                parent=parent, coords=coords, tick=tick, static=static,
                                                related=related)
        result["models"][name] = _scores(mu, alpha, obs, sparse, seconds)
        if progress is not None:
            progress((n_done + 1) * per_model / steps, name)
        if on_model is not None:
            on_model(name, result["models"][name])
    return result


def _single_category(counts: pd.DataFrame) -> pd.DataFrame:
    if counts["category"].nunique() <= 1:
        return counts
    summed = counts.groupby(["area_id", "period"], as_index=False, observed=True)["count"].sum()
    return summed.assign(category=ALL)[["area_id", "period", "category", "count"]]


# -- outbreaks and alarms -----------------------------------------------------------------------
def inject_outbreaks(counts: pd.DataFrame, periods: Sequence, *, n: int = 50, duration: int = 3,
                     size: float = 3.0, min_extra: int = 2,
                     seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add simulated outbreaks to tidy counts.

    Each outbreak picks an area (weighted toward busier areas, as real clusters are) and a
    start period among ``periods`` and adds, in each of ``duration`` periods,
    ``max(min_extra, Poisson(size * sd))`` cases, ``sd`` the area's count standard deviation
    (Noufaily et al. 2013 size outbreaks in multiples of the baseline sd).

    Returns
    -------
    counts : DataFrame
        Copy with the extra cases.
    truth : DataFrame
        ``area_id, category, start, end, extra`` per outbreak (``end`` inclusive).
    """
    rng = np.random.default_rng(seed)
    all_periods = pd.DatetimeIndex(sorted(counts["period"].unique()))
    cand = pd.DatetimeIndex(pd.to_datetime(list(periods)))
    cand = cand[all_periods.get_indexer(cand) + duration - 1 < len(all_periods)]
    stats_ = counts.groupby(["area_id", "category"])["count"].agg(["mean", "std"]).reset_index()
    w = stats_["mean"].to_numpy() + 0.05
    pick = rng.choice(len(stats_), size=n, replace=True, p=w / w.sum())
    starts = cand[rng.integers(0, len(cand), size=n)]
    out = counts.copy()
    key = pd.MultiIndex.from_frame(out[["area_id", "category", "period"]])
    rows = []
    add = np.zeros(len(out), dtype=np.int64)
    for i, s in zip(pick, starts):  # loop over a few dozen outbreaks
        a, c, sd = stats_.loc[i, "area_id"], stats_.loc[i, "category"], stats_.loc[i, "std"]
        j0 = all_periods.get_loc(s)
        ps = all_periods[j0 : j0 + duration]
        extra = np.maximum(min_extra, rng.poisson(size * max(sd, 0.5), size=len(ps)))
        pos = key.get_indexer(pd.MultiIndex.from_arrays([[a] * len(ps), [c] * len(ps), ps]))
        add[pos] += extra
        rows.append({"area_id": a, "category": c, "start": ps[0], "end": ps[-1],
                     "extra": int(extra.sum())})
    out["count"] = out["count"].to_numpy() + add
    return out, pd.DataFrame(rows)


def score_alarms(forecasts: Mapping[str, pd.DataFrame], truth: pd.DataFrame, *,
                 target_far: float = 0.01) -> dict[str, dict[str, float]]:
    """Detection at matched false-alarm rates.

    Parameters
    ----------
    forecasts : mapping name -> DataFrame
        :func:`rolling_forecasts` output with ``statistic`` (run on the injected counts).
    truth : DataFrame
        From :func:`inject_outbreaks`.
    target_far : float
        Allowed false alarms per area-period on outbreak-free area-periods (0.01 = 1 per 100).

    Returns
    -------
    dict name -> {"threshold", "false_alarms_per_100", "pod", "median_delay"}
        Ties of the statistic are broken by the predictive ``p_exceed`` when the forecast
        columns are present (``threshold`` is then a rank).
        ``pod`` = share of outbreaks (starting inside the test periods) with an alarm in one of
        their periods; ``median_delay`` = periods from start to the first alarm, over detected
        outbreaks.
    """
    res = {}
    for name, fc in forecasts.items():
        inside = np.zeros(len(fc), bool)
        key = fc["area_id"].astype(str) + "|" + fc["category"].astype(str)
        for _, ob in truth.iterrows():  # a few dozen outbreaks
            inside |= ((key == f"{ob.area_id}|{ob.category}") & (fc["period"] >= ob.start)
                       & (fc["period"] <= ob.end)).to_numpy()
        stat = fc["statistic"].to_numpy(float)
        if {"mu", "alpha", "observed"} <= set(fc.columns):
            # Discrete statistics tie a lot (every all-zero baseline with one case scores the
            # same); break ties by the predictive tail probability, then compare on ranks.
            second = -np.log10(np.maximum(_p_exceed_of(fc), 1e-300))
            order = np.lexsort((second, stat))
            stat = np.empty(len(stat))
            stat[order] = np.arange(len(stat), dtype=float)
        clean = stat[~inside]
        thr = float(np.quantile(clean, 1 - target_far, method="higher"))
        alarm = stat > thr
        detected, delays = 0, []
        tested = 0
        for _, ob in truth.iterrows():
            sel = ((key == f"{ob.area_id}|{ob.category}") & (fc["period"] >= ob.start)
                   & (fc["period"] <= ob.end)).to_numpy()
            if not sel.any():
                continue
            tested += 1
            hits = np.sort(fc.loc[sel & alarm, "period"].to_numpy())
            if len(hits):
                detected += 1
                periods = np.sort(fc.loc[sel, "period"].unique())
                delays.append(int(np.searchsorted(periods, hits[0])))
        res[name] = {
            "threshold": thr,
            "false_alarms_per_100": float(100 * np.mean(clean > thr)),
            "pod": detected / tested if tested else float("nan"),
            "median_delay": float(np.median(delays)) if delays else float("nan"),
            "n_outbreaks": tested,
        }
    return res


def _p_exceed_of(fc: pd.DataFrame) -> np.ndarray:
    from analytics.distributions import p_exceed

    return p_exceed(fc["observed"].to_numpy(float), fc["mu"].to_numpy(float),
                    fc["alpha"].to_numpy(float))


# -- from an incident file ----------------------------------------------------------------------
def grid_counts(incidents: pd.DataFrame, cell: float, *, freq: str = "W",
                train_end=None, crs=None) -> tuple[pd.DataFrame, dict]:
    """Dense weekly (or monthly/daily) counts on a square grid of ``cell`` metres.

    The grid is :class:`layers.grids.GridSpec` in ``crs`` (a projected CRS in metres, e.g. the
    workspace's), else in the UTM zone of the points. The study area
    is every cell with an event before ``train_end``, plus cells whose centre lies inside the
    convex hull of the events before ``train_end`` (central 99.9%) and that touch such a cell;
    only those cells are counted (zeros included, by :func:`data.cube.count_cube`). Only complete periods are kept
    (:func:`data.calendar.is_complete`, as of the end of the last day with an event), and not a
    first period that the data covers only in part.

    Returns the tidy counts and ``{"cells": ids, "neighbours": mapping, "coords": DataFrame,
    "crs": str}`` (Queen neighbours of the study cells,
    :func:`analytics.neighbours.neighbour_lists`; ``coords``: ``area_id, x, y``, the cell
    centres in ``crs`` metres).
    """
    import geopandas as gpd
    import shapely
    from pyproj import Transformer
    from scipy import ndimage

    from analytics.neighbours import neighbour_lists
    from layers.crs import estimate_utm_crs
    from layers.grids import GridSpec

    if cell <= 0:
        raise ValueError(f"cell: must be a positive number of metres, got {cell}")
    df = incidents.dropna(subset=["lon", "lat", "occurred_at"])
    if crs is None:
        crs = estimate_utm_crs(df["lon"].to_numpy(), df["lat"].to_numpy())
    else:
        from layers.crs import require_projected

        crs = require_projected(crs, "crs")
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(df["lon"].to_numpy(),
                                                                     df["lat"].to_numpy())
    spec = GridSpec(0.0, 0.0, float(cell), "square", crs.to_string())
    col, row = spec.index(x, y)
    t = pd.to_datetime(df["occurred_at"])
    period = period_start(t, freq)
    cut = pd.Timestamp(train_end) if train_end is not None else period.max() + pd.Timedelta(days=1)
    train = period.to_numpy() < cut
    if not train.any():
        raise ValueError(f"start {cut.date()}: no incident before it to define the study area")
    # Bounding box and hull from the central 99.9% of the training points (test-period events
    # must not shape the area they are scored on): a few mis-geocoded incidents kilometres away
    # must not add thousands of empty cells.
    lo_x, hi_x = np.quantile(x[train], [0.0005, 0.9995])
    lo_y, hi_y = np.quantile(y[train], [0.0005, 0.9995])
    core = train & (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)
    c0, c1 = col[core].min(), col[core].max()
    r0, r1 = row[core].min(), row[core].max()
    seen = np.zeros((r1 - r0 + 1, c1 - c0 + 1), bool)
    box = (col >= c0) & (col <= c1) & (row >= r0) & (row <= r1)
    sel = train & box
    seen[row[sel] - r0, col[sel] - c0] = True
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x[core], y[core]])))
    cc, rr = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
    cx, cy = spec.centres(cc.ravel(), rr.ravel())
    in_hull = shapely.contains_xy(hull, cx, cy).reshape(seen.shape)
    # Cells inside the hull count when next to an active cell (parks, blocks with no event yet
    # inside the city), not the empty corners of a crescent-shaped city's hull.
    near = ndimage.binary_dilation(seen, structure=np.ones((3, 3), bool))
    study = (seen | (in_hull & near)).ravel()
    sc, sr = cc.ravel()[study], rr.ravel()[study]
    ids = spec.ids(sc, sr)
    periods = period_range(period.min(), period.max(), freq)
    periods = periods[is_complete(periods, freq, data_as_of(t.max()))
                      & (periods >= t.min().normalize())]
    if len(periods) == 0:
        raise ValueError(f"freq {freq!r}: no complete period in the incidents "
                         f"({t.min():%Y-%m-%d} .. {t.max():%Y-%m-%d})")
    # each event's study cell as a position into ids (-1 outside), by array lookup
    slot = np.full(seen.size, -1, dtype=np.int64)
    slot[np.flatnonzero(study)] = np.arange(len(ids))
    where = np.full(len(col), -1, dtype=np.int64)
    where[box] = slot[(row[box] - r0) * seen.shape[1] + (col[box] - c0)]
    counts = count_cube(where, t, np.zeros(len(where), dtype=np.int64), areas=ids,
                        categories_index=[ALL], freq=freq, start=periods[0], end=periods[-1])
    cells = gpd.GeoDataFrame({"area_id": ids}, geometry=spec.polygons(sc, sr), crs=crs)
    neighbours = neighbour_lists(cells, tolerance=float(cell) * 1e-6)
    px, py = spec.centres(sc, sr)
    coords = pd.DataFrame({"area_id": ids, "x": np.asarray(px, float), "y": np.asarray(py, float)})
    return counts, {"cells": list(ids), "neighbours": neighbours, "coords": coords,
                    "crs": crs.to_string()}


def backtest_incidents(incidents: pd.DataFrame, *, cell: float, freq: str = "W", start, end=None,
                       category: str | None = None, models: Sequence[str] | None = None,
                       crs=None, progress: Callable[[float, str], None] | None = None,
                       risk_factors: pd.DataFrame | None = None,
                       others: pd.DataFrame | None = None) -> dict:
    """Backtest every model (or ``models``) on incidents gridded at ``cell`` m.

    ``incidents`` holds ``occurred_at, lon, lat`` (already cut to ``category``, which only labels
    the result); ``crs`` is the projected CRS of the grid (default: the points' UTM zone).
    ``risk_factors`` (``type, lon, lat``: 网吧, KTV, 城中村 … points) gives every cell its
    distance and density features (:func:`analytics.rtm.risk_features`), which the pooled ``gbm``
    learns from; ``risk_factors`` in the result lists the types used. ``others`` (``occurred_at,
    lon, lat``: the incidents of every other category) are counted on the same cells and given to
    the models that learn from them (``blend``); ``related`` in the result is their row count.

    Returns the JSON of design.md: ``n_cells, n_periods, n_events, cell_m, freq, models{name:
    {hit_rate, pai, pei (keys "0.01", "0.05", "0.10"), crps, coverage_90, seconds, …}}`` plus
    ``log_score``, ``coverage_80``, ``coverage_95``, ``coverage_90_sparse`` per model and the
    top-level ``start``, ``end``, ``category``. ``progress(fraction, label)`` is called as work
    advances (see :func:`backtest_counts`).
    """
    if freq not in ("W", "M", "D"):
        raise ValueError(f"--freq {freq!r}: expected W, M or D")
    for m in models or ():
        if m not in MODELS:
            raise ValueError(f"--models {m!r}: unknown; choose from {', '.join(MODELS)}")
    try:
        start_ts = pd.Timestamp(start)
        end_ts = pd.Timestamp(end) if end is not None else None
    except ValueError as exc:
        raise ValueError(f"--start/--end: not a date ({exc})") from exc
    counts, info = grid_counts(incidents, cell, freq=freq, train_end=start_ts, crs=crs)
    periods = pd.DatetimeIndex(sorted(counts["period"].unique()))
    start_p = periods[periods >= start_ts]
    if len(start_p) == 0:
        raise ValueError(f"--start {start}: after the last complete period {periods[-1].date()}")
    if progress is not None:
        progress(0.0, "grid")
    static = _risk_static(risk_factors, info) if risk_factors is not None else None
    related = (grid_related(others, info, cell, freq, periods) if others is not None
               and len(others) else None)
    result = backtest_counts(counts, start=start_p[0], end=end_ts, models=models,
                             neighbours=info["neighbours"], coords=info["coords"],
                             progress=progress, static=static, related=related)
    out = {
        "n_cells": result["n_cells"],
        "n_periods": result["n_periods"],
        "n_events": result["n_events"],
        "cell_m": cell,
        "freq": freq,
        "start": str(start_p[0].date()),
        "end": str((end_ts or periods[-1]).date()),
        "category": category or ALL,
        "models": _jsonable(result["models"]),
    }
    if related is not None:
        out["related"] = int(len(others))
    if static is not None:
        out["risk_factors"] = sorted(c[len("dist__"):] for c in static.columns if c.startswith("dist__"))
    return out


def grid_related(others: pd.DataFrame, info: dict, cell: float, freq: str,
                 periods: pd.DatetimeIndex) -> pd.DataFrame:
    """Counts of ``others`` (``occurred_at, lon, lat``) on the study cells of :func:`grid_counts`
    (``info``) per period of ``periods``: ``related`` for :func:`analytics.models.make_model`.
    Events outside the cells or the periods are not counted."""
    from pyproj import Transformer

    from analytics.models.blend import related_counts
    from layers.grids import GridSpec

    df = others.dropna(subset=["lon", "lat", "occurred_at"])
    x, y = Transformer.from_crs(4326, info["crs"], always_xy=True).transform(
        df["lon"].to_numpy(float), df["lat"].to_numpy(float))
    spec = GridSpec(0.0, 0.0, float(cell), "square", info["crs"])
    col, row = spec.index(x, y)
    cell_pos = pd.Index(info["cells"]).get_indexer(spec.ids(col, row))
    per_pos = periods.get_indexer(period_start(pd.to_datetime(df["occurred_at"]), freq))
    ok = (cell_pos >= 0) & (per_pos >= 0)
    Z = np.zeros((len(info["cells"]), len(periods)))
    np.add.at(Z, (cell_pos[ok], per_pos[ok]), 1.0)
    return related_counts(info["cells"], periods, Z)


def _risk_static(factors: pd.DataFrame, info: dict) -> pd.DataFrame:
    """The grid cells' risk-terrain features from ``type, lon, lat`` points, in the grid's CRS."""
    from pyproj import Transformer

    from analytics.rtm import risk_features

    missing = {"type", "lon", "lat"} - set(factors.columns)
    if missing:
        raise ValueError(f"risk_factors: missing column(s) {', '.join(sorted(missing))}")
    x, y = Transformer.from_crs(4326, info["crs"], always_xy=True).transform(
        factors["lon"].to_numpy(float), factors["lat"].to_numpy(float))
    points = pd.DataFrame({"type": factors["type"].astype(str).to_numpy(), "x": x, "y": y})
    return risk_features(info["coords"], points)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else round(float(obj), 6)
    return obj
