"""The board façade: what the CLI (``pingan warn``), the Dash app and the briefing call.

Every function takes a :class:`data.workspace.Workspace` and plain arguments, and returns
plain tables / dicts. Results are cached by :mod:`analytics.service.cache` per workspace
version: every writer bumps the version, so the first read after an ingest or upload is fresh.
Names and keywords here are a contract with the app and the briefing — extend, do not rename.

Public functions
----------------
- :func:`periods`, :func:`latest_period`, :func:`as_of`, :func:`partial_period`, :func:`gaps`
  — which periods may be judged (from :mod:`analytics.service.periods`, re-exported here).
- :func:`warning_table` — the four-colour table of one layer and period (GeoDataFrame).
- :func:`kpis` — headline figures: totals, 同比, 环比, 两抢一盗, colours, chance reds.
- :func:`trend` — one area's observed vs one-step-ahead expected and bands, with levels.
- :func:`level_counts`, :func:`default_level`, :func:`category_choices`, :func:`clear_cache`.

The model is chosen automatically unless a caller or ``config.toml`` (``[board] model = "eb"``)
pins one: by default it is the stored model choice of the category (or 全部's) made by the latest
model evaluation of **any** version (:func:`analytics.service.evaluation.board_choice`: the
candidates of :mod:`analytics.models.auto` compared by log score over the last 26 weeks, by the
评估 page, ``pingan evaluate`` and ``pingan watch`` after each ingest) — reading it costs nothing,
so the board never waits, and an ingest does not send it back to ``eb``; ``model="auto"`` (or
``[board] model = "auto"``) backtests them per layer, frequency and category over the last year
instead (:func:`auto_choice`, tens of seconds once per version, kept on disk). The table says
which model it is and from which evaluation (``attrs["model_note"]``: 「预测模型：…（自动选择：
2026-12-01 模型评估，…近26周回测）」). :data:`DEFAULT_MODEL` (``"eb"``: gamma-Poisson empirical
Bayes toward the parent area with the city's seasonal profile) is used until a choice exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analytics.distributions import p_exceed as _p_exceed
from analytics.distributions import quantile as _quantile
from analytics.models import MODELS, make_model
from analytics.models.auto import AUTO, select_model
from analytics.present.i18n import t
from analytics.service.cache import cached as _cached
from analytics.service.cache import clear_cache as _clear_all
from analytics.service.periods import (
    FESTIVAL_FLOOR,
    GAP_P,
    PARTIAL,
    all_periods,
    as_of,
    default_level,
    gap_periods,
    gaps,
    latest_period,
    low_totals,
    partial_period,
    periods,
    raw_counts,
    weekly_profile,
)
from analytics.warning import (
    LEVELS,
    Thresholds,
    expected_by_chance,
    forecast_levels,
    levels_from_p,
    reason,
    yoy_levels,
)
from data.calendar import (
    elapsed_share,
    season_length,
)
from data.cube import CountMatrix, to_matrix

__all__ = [
    "DEFAULT_MODEL",
    "auto_choice",
    "FESTIVAL_FLOOR",
    "GAP_P",
    "MODES",
    "PARTIAL",
    "as_of",
    "category_choices",
    "clear_cache",
    "default_level",
    "gaps",
    "kpis",
    "latest_period",
    "level_counts",
    "low_totals",
    "partial_period",
    "periods",
    "trend",
    "warning_table",
]

#: Model used when ``model=None``.
DEFAULT_MODEL = "eb"
#: Colouring modes of :func:`warning_table`.
MODES: tuple[str, ...] = ("alert", "forecast", "yoy")

def clear_cache() -> None:
    """Forget every cached result (tests; after editing files behind the workspace's back)."""
    _clear_all()


# -- periods, layers, categories ------------------------------------------------------------------
def category_choices(ws) -> list[str]:
    """全部, then the taxonomy's groups, then the raw categories present in the counts."""
    counts = raw_counts(ws, default_level(ws), "W")
    return ws.config.taxonomy.choices(sorted(pd.unique(counts["category"].astype(str))))


def _group(ws, level: str, freq: str, category: str | None) -> tuple[pd.DataFrame, str]:
    from data.cube import group_counts
    from data.taxonomy import canonical_name

    name = canonical_name(category)

    def compute():
        raw = raw_counts(ws, level, freq)
        return group_counts(raw, ws.config.taxonomy, name)

    return _cached(ws, "group", (level, freq, name), compute), name


def _areas(ws, level: str):
    return _cached(ws, "areas", (level,), lambda: ws.areas(level))


def _parent_map(ws, level: str) -> dict | None:
    areas = _areas(ws, level)
    if "parent_id" not in areas.columns or areas["parent_id"].isna().all():
        return None
    sel = areas[areas["parent_id"].notna()]
    return dict(zip(sel["area_id"].astype(str), sel["parent_id"].astype(str)))


def _coords(ws, level: str) -> pd.DataFrame:
    """``area_id, x, y``: the layer's area centroids in metres (``make_model(coords=)``).

    In the workspace's projected CRS: the config's ``crs``, else the layer's, else (a geographic
    layer) the UTM zone of its areas.
    """
    def compute():
        from pyproj import CRS

        from layers.crs import estimate_utm_crs

        areas = _areas(ws, level)
        if areas.crs is None:
            raise ValueError(f"{ws.path}: area layer {level!r} has no CRS")
        crs = CRS.from_user_input(ws.config.crs or areas.crs)
        if not crs.is_projected:
            pts = areas.geometry.representative_point().to_crs(4326)
            crs = estimate_utm_crs(pts.x.to_numpy(), pts.y.to_numpy())
        cent = areas.geometry.to_crs(crs).centroid
        return pd.DataFrame({"area_id": areas["area_id"].astype(str).to_numpy(),
                             "x": cent.x.to_numpy(float), "y": cent.y.to_numpy(float)})

    return _cached(ws, "coords", (level,), compute)


def _matrix(ws, level: str, freq: str, name: str):
    counts, _ = _group(ws, level, freq, name)
    m = _cached(ws, "matrix", (level, freq, name), lambda: to_matrix(counts, freq=freq))
    return m.keys, m.periods, m.Y


def _period_arg(ws, period, freq: str) -> pd.Timestamp:
    from data.calendar import period_start

    ps = periods(ws, freq)
    if period is None:
        if not ps:
            raise ValueError(f"{ws.path}: no complete period with data")
        return ps[-1]
    try:
        p = period_start([pd.Timestamp(period)], freq)[0]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--period {period!r}: not a date ({exc})") from exc
    if p not in set(ps):
        span = f"{ps[0].date()} .. {ps[-1].date()}" if ps else "none"
        raise ValueError(f"--period {period}: no complete {freq} period starting {p.date()} "
                         f"(complete periods: {span})")
    return p


def _model_name(model: str | None) -> str:
    name = model or DEFAULT_MODEL
    if name not in MODELS and name != AUTO:
        raise ValueError(f"--model {name!r}: unknown; choose from {AUTO}, {', '.join(MODELS)}")
    return name


def _resolve_model(ws, model: str | None, level: str, freq: str, name: str) -> tuple[str, dict]:
    """The registry model of a request and the note that names it for people.

    ``model`` as given, else ``[board] model`` of config.toml; ``"auto"`` there is the per
    layer and category backtest of :func:`auto_choice` (tens of seconds once per version); with
    neither, the best model of the workspace's model evaluation (:func:`_evaluation_choice`).
    The note is ``{"zh": …, "en": …}``.
    """
    pinned = model or ws.config.board.get("model")
    if not pinned:  # the default: the stored choice of the latest model evaluation, any version
        return _evaluation_choice(ws, name)
    asked = _model_name(pinned)
    if asked != AUTO:
        label = {lang: t(f"brief.model.{asked}", lang) for lang in ("zh", "en")}
        return asked, {lang: t("board.model", lang, model=label[lang]) for lang in label}
    choice = auto_choice(ws, level, freq, name)
    chosen = choice["model"]
    key = "board.model_auto" if choice["origins"] else "board.model_auto_short"
    return chosen, {lang: t(key, lang, model=t(f"brief.model.{chosen}", lang),
                            n=choice["test_periods"], unit=t(f"board.unit.{freq}", lang))
                    for lang in ("zh", "en")}


def _evaluation_choice(ws, name: str) -> tuple[str, dict]:
    """The default model: the stored model choice of the category (or 全部's) made by the
    latest model evaluation of any version (:func:`analytics.service.evaluation.board_choice`:
    评估页, ``pingan evaluate``, ``pingan watch`` after each ingest); :data:`DEFAULT_MODEL` until
    a choice has been made. Reads a small file, never computes."""
    from analytics.service.evaluation import board_choice

    choice = board_choice(ws, name)
    if choice is None:
        return DEFAULT_MODEL, {lang: t("board.model_auto_pending", lang,
                                       model=t(f"brief.model.{DEFAULT_MODEL}", lang))
                               for lang in ("zh", "en")}
    chosen = choice["model"]
    key = {None: "board.model_choice", "few": "board.model_choice_inherited",
           "none": "board.model_choice_inherited_none"}[choice["why"]]
    when = str(choice.get("computed") or "")[:10]
    return chosen, {lang: t(key, lang, model=t(f"brief.model.{chosen}", lang), date=when,
                            week=choice.get("data_week") or "", n=choice.get("weeks", 0))
                    for lang in ("zh", "en")}


def auto_choice(ws, level: str, freq: str = "W", category: str | None = None) -> dict:
    """``auto``'s choice for a layer, frequency and category, once per workspace version.

    Returns :func:`analytics.models.auto.select_model`'s dict: ``model``, ``scores`` (log
    score, CRPS, PAI@5 % of each candidate), ``test_periods``, ``origins``.
    """
    from data.taxonomy import canonical_name

    name = canonical_name(category)

    def compute():
        # a year of rolling origins takes tens of seconds on thousands of 网格: kept on disk
        # with the version it was computed for, so a restarted server does not redo it
        import hashlib
        import json
        import os

        tag = hashlib.sha1(f"{level}|{freq}|{name}".encode()).hexdigest()[:16]
        path = ws.path / "cache" / "auto" / f"{tag}.json"
        version = ws.version
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("_version") == version:
                return {k: v for k, v in stored.items() if k != "_version"}
        keys, ps, _ = _matrix(ws, level, freq, name)
        m = CountMatrix(keys, ps, _fit_matrix(ws, level, freq, name), freq)
        choice = select_model(m, parent=_parent_map(ws, level), coords=_coords(ws, level),
                              related=_related(ws, level, freq, name, "blend"))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{tag}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**choice, "_version": version}), encoding="utf-8")
        os.replace(tmp, path)  # a derived file: never half-written
        return choice

    return _cached(ws, "auto_model", (level, freq, name), compute)


def _fit_matrix(ws, level: str, freq: str, name: str) -> np.ndarray:
    """The layer's count matrix with gap periods imputed, for fitting (models never see a gap).

    A gap's column is each series' mean over the (up to) 4 nearest earlier non-gap periods
    (later ones when none is earlier), so every model in ``MODELS`` copes unchanged and the
    forecast after a gap is what it would have been without the zeros.
    """
    def compute():
        _, ps, Y = _matrix(ws, level, freq, name)
        holes = np.flatnonzero(ps.isin(list(gap_periods(ws, freq))))
        if len(holes) == 0:
            return Y
        out = Y.copy()
        ok = np.flatnonzero(~ps.isin(list(gap_periods(ws, freq))))
        for j in holes:  # one column per gap: few
            before = ok[ok < j][-4:]
            use = before if len(before) else ok[ok > j][:4]
            if len(use):
                out[:, j] = Y[:, use].mean(axis=1)
        return out

    return _cached(ws, "fit_matrix", (level, freq, name), compute)


def _static(ws, level: str, model: str):
    """The layer's risk-terrain features for the pooled ``gbm`` (``None`` for other models or a
    workspace without risk factors: ``pingan areas --risk-factors``)."""
    if model != "gbm":
        return None
    from analytics.service.risk import risk_features_of

    return risk_features_of(ws, level)


def _related(ws, level: str, freq: str, name: str, model: str):
    """The other categories' counts in each of the layer's areas (gaps imputed), for ``blend``
    (:class:`analytics.models.KernelBlend`'s ``related``); ``None`` for other models and 全部."""
    from analytics.models.blend import related_counts
    from data.taxonomy import canonical_name

    every = canonical_name(None)
    if model != "blend" or name == every:
        return None

    def compute():
        keys, ps, _ = _matrix(ws, level, freq, name)
        a_keys, a_ps, _ = _matrix(ws, level, freq, every)
        total = pd.DataFrame(_fit_matrix(ws, level, freq, every),
                             index=a_keys["area_id"].astype(str), columns=a_ps)
        total = total.reindex(index=keys["area_id"].astype(str), columns=ps).to_numpy(float)
        own = _fit_matrix(ws, level, freq, name)
        return related_counts(keys["area_id"], ps, np.maximum(np.nan_to_num(total - own), 0.0))

    return _cached(ws, "related", (level, freq, name), compute)


def _fit_predict(ws, level, freq, name, model, origin_index: int):
    """Fit ``model`` on periods [0, origin_index] of the layer's matrix; predict the next one."""
    keys, ps, _ = _matrix(ws, level, freq, name)
    Y = _fit_matrix(ws, level, freq, name)

    def compute():
        m = make_model(model, parent=_parent_map(ws, level), coords=_coords(ws, level),
                       static=_static(ws, level, model), related=_related(ws, level, freq, name, model))
        Yh = _new_areas_missing(ws, level, freq, keys, ps, Y)[:, : origin_index + 1]
        m.fit(CountMatrix(keys, ps[: origin_index + 1], Yh, freq))
        return _floored(ws, level, keys, Yh, m)

    return _cached(ws, "predict", (level, freq, name, model, origin_index), compute)


def _new_areas_missing(ws, level, freq, keys, ps, Y) -> np.ndarray:
    """``Y`` with each area's periods before its ``valid_from`` set to NaN (missing, not zeros).

    ``valid_from`` is the layer's column when the boundary file has one, else the first period
    with a case in the area (any category) when the empty run before it is implausible
    (:func:`analytics.floors.valid_from_index`). Models read NaN as missing
    (``CountModel.handles_missing``) or fill it from the area's other periods.
    """
    from analytics.floors import mask_before, valid_from_index
    from data.taxonomy import canonical_name

    def starts():
        a_keys, a_ps, a_Y = _matrix(ws, level, freq, canonical_name(None))
        start = valid_from_index(a_keys["area_id"], a_ps, freq, _areas(ws, level), a_Y)
        by_area = dict(zip(a_keys["area_id"].astype(str), a_ps[np.minimum(start, len(a_ps) - 1)]))
        return by_area, bool((start > 0).any())

    by_area, any_new = _cached(ws, "valid_from", (level, freq), starts)
    if not any_new:
        return Y
    first = pd.DatetimeIndex([by_area.get(a, ps[0]) for a in keys["area_id"].astype(str)])
    return mask_before(Y, ps.searchsorted(first))


def _floored(ws, level, keys, Yh, fitted):
    """``fitted.predict(1)`` with no forecast below its floor (:mod:`analytics.floors`), for every model.

    ``attrs``: ``floored`` (rows raised), ``kappa`` and ``own_weight`` (median weight of an
    area's own data) when the model is empirical Bayes.
    """
    from analytics.floors import apply_floor

    pred = apply_floor(fitted.predict(1), keys.assign(floor=_floor_values(ws, level, keys, Yh)))
    if hasattr(fitted, "kappa_"):
        pred.attrs["kappa"] = float(fitted.kappa_)
        pred.attrs["own_weight"] = float(np.median(fitted.weight_))
    return pred


def _floor_values(ws, level, keys, Yh) -> np.ndarray:
    """Each series' floor (:func:`analytics.floors.series_floors`: parent rate × exposure share)."""
    from analytics.floors import exposure, series_floors

    parent = _parent_map(ws, level) or {}
    ids = keys["area_id"].astype(str)
    x = _cached(ws, "exposure", (level,), lambda: exposure(_areas(ws, level)))
    group = [f"{parent.get(a, '')}|{c}" for a, c in zip(ids, keys["category"].astype(str))]
    return series_floors(Yh, group, x.reindex(ids).to_numpy(float))


# -- the warning table ----------------------------------------------------------------------------
def warning_table(ws, level: str | None = None, period=None, freq: str = "W",
                  category: str | None = None, mode: str = "alert", model: str | None = None,
                  partial: bool = False):
    """Four-colour warning table of one layer for one period.

    Parameters
    ----------
    ws : Workspace
    level : str, optional
        Area layer (default :func:`default_level`).
    period : date-like, optional
        Any date inside the period (default: the latest complete period). In ``"forecast"``
        mode this is the origin and the table is for the period after it.
    freq : {"W", "M", "D"}
    category : str, optional
        Category, group (两抢一盗 …) or 全部 (default).
    mode : {"alert", "forecast", "yoy"}
        ``alert``: observed against the forecast made from earlier periods (the four-colour
        rule of :mod:`analytics.warning`); ``forecast``: next period's top 1/5/20% of areas by
        expected count; ``yoy``: colour by 同比 change.
    model : str, optional
        Registry name or ``"auto"`` (default: ``[board] model`` of config.toml, else ``auto``,
        :func:`auto_choice`); ``attrs["model"]`` is the model used, ``attrs["model_note"]``
        its name for people in zh and en.
    partial : bool
        Show an incomplete period instead (default: the running one, :func:`partial_period`;
        ``alert`` mode only; ``period=`` :data:`PARTIAL` is the same, for the app's dropdown,
        and means the latest complete period in the other modes). Its expectation is
        pro-rated by the share of the period's expected cases that should have happened by the
        as-of time (the city's weekday × hour profile, :func:`data.calendar.elapsed_share`),
        never the full-period forecast; 同比 and 环比 compare with the same share of the
        earlier periods, and each reason says it is partial.

    A gap period (:func:`gaps`) gets ``level`` NaN (grey on maps), ``p_exceed`` NaN and the
    reason 「数据缺失」 / "no data".

    Returns
    -------
    geopandas.GeoDataFrame
        ``area_id, name, level_name, period, category, observed, expected, q80, q95, q99,
        p_exceed, level, reason_zh, reason_en, yoy, mom, observed_last_year, observed_prev,
        rank, population, households, rate, model, mode, geometry`` (workspace CRS), sorted by
        ``rank`` (一月一排位: level, then p_exceed, then observed); ``rate`` = observed per
        10,000 residents, NaN for an area without population (:mod:`analytics.service.ranking`).
        ``attrs``: ``expected_reds``, ``thresholds``, ``model``,
        ``as_of``, ``period`` (asked for; the origin in forecast mode), ``partial``, ``share``
        (elapsed share, 1 for a complete period), ``missing``.
    """
    if isinstance(period, str) and period == PARTIAL:  # the dropdown's value; other modes: latest
        period, partial = None, mode == "alert"
    if mode not in MODES:
        raise ValueError(f"--mode {mode!r}: expected one of {', '.join(MODES)}")
    if freq not in ("W", "M", "D"):
        raise ValueError(f"--freq {freq!r}: expected W, M or D")
    level = level or default_level(ws)
    if level not in ws.layers():
        raise ValueError(f"--level {level!r}: no such layer in {ws.path} "
                         f"(layers: {', '.join(ws.layers())})")
    _model_name(model)
    if partial and mode != "alert":
        raise ValueError(f"--partial: only with --mode alert (got --mode {mode})")
    p = _partial_arg(ws, period, freq) if partial else _period_arg(ws, period, freq)
    _, name = _group(ws, level, freq, category)
    model, note = _resolve_model(ws, model, level, freq, name)
    args = (level, str(p), freq, name, mode, model, bool(partial))
    table = _cached(ws, "warning_table", args,
                    lambda: _warning_table(ws, level, p, freq, name, mode, model, bool(partial))).copy()
    table.attrs["model_note"] = note
    return table


def _partial_arg(ws, period, freq: str) -> pd.Timestamp:
    from data.calendar import period_start

    now = as_of(ws)
    if period is None:
        p = partial_period(ws, freq)
        if p is None:
            raise ValueError(f"--partial: {ws.path} has no incomplete {freq} period "
                             f"(data as of {now:%Y-%m-%d %H:%M})")
        return p
    try:
        p = period_start([pd.Timestamp(period)], freq)[0]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--period {period!r}: not a date ({exc})") from exc
    if p in set(periods(ws, freq)):
        raise ValueError(f"--period {period}: the {freq} period starting {p.date()} is complete; "
                         "drop --partial")
    if p not in set(all_periods(ws, freq)) or p >= now:
        raise ValueError(f"--period {period}: no data in the {freq} period starting {p.date()} "
                         f"(data as of {now:%Y-%m-%d %H:%M})")
    return p


def _warning_table(ws, level, p, freq, name, mode, model, partial=False):
    import geopandas as gpd

    keys, ps, Y = _matrix(ws, level, freq, name)
    j = ps.get_loc(p)
    th = Thresholds.from_config(ws.config.thresholds)
    if mode == "forecast":
        pred = _fit_predict(ws, level, freq, name, model, j)
        target = pred["period"].iloc[0]
        observed = np.full(len(keys), np.nan)
        obs_col = j  # 同比/环比 of the origin period, for context
    else:
        if j < 2:
            raise ValueError(f"--period {p.date()}: need at least two earlier periods to forecast it")
        pred = _fit_predict(ws, level, freq, name, model, j - 1)
        target = p
        observed = Y[:, j]
        obs_col = j
    due = 1.0  # share of the period's expected cases due by the as-of time
    if partial:  # compare with the part of the forecast that should have happened by now
        due = float(elapsed_share([p], freq, as_of(ws), weekly_profile(ws))[0])
        pred = pred.copy()
        pred["mu"] = pred["mu"].to_numpy(float) * due  # a thinned NB2 keeps its alpha
        for q in (80, 95, 99):
            pred[f"q{q}"] = _quantile(q / 100, pred["mu"].to_numpy(float), pred["alpha"].to_numpy(float))
    missing = mode != "forecast" and p in gap_periods(ws, freq)
    mu = pred["mu"].to_numpy(float)
    alpha = pred["alpha"].to_numpy(float)
    L = season_length(freq)
    cur = Y[:, obs_col]
    ly = Y[:, obs_col - L] if obs_col - L >= 0 else np.full(len(keys), np.nan)
    prev = Y[:, obs_col - 1] if obs_col >= 1 else np.full(len(keys), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # a partial period: against the same share
        yoy = np.where(ly > 0, cur / (ly * due) - 1, np.nan)
        mom = np.where(prev > 0, cur / (prev * due) - 1, np.nan)
    table = pd.DataFrame({
        "area_id": keys["area_id"].to_numpy(),
        "period": target,
        "category": name,
        "observed": observed,
        "expected": mu,
        "q80": pred["q80"].to_numpy(), "q95": pred["q95"].to_numpy(),
        "q99": pred["q99"].to_numpy(),
        "mu": mu, "alpha": alpha,
        "yoy": yoy, "mom": mom,
        "observed_last_year": ly, "observed_prev": prev,
    })
    if mode == "forecast":
        table["p_exceed"] = np.nan
        table["level"] = forecast_levels(mu, table["area_id"], th)
        for lang in ("zh", "en"):
            share = _forecast_share(table["level"], th, lang)
            table[f"reason_{lang}"] = [t("board.reason_forecast", lang, n=f"{e:.1f}", share=s) for e, s in zip(mu, share)]
    else:
        pex = _p_exceed(observed, mu, alpha)
        table["p_exceed"] = pex
        table["level"] = (levels_from_p(pex, observed, th, expected=mu) if mode == "alert"
                          else yoy_levels(observed, ly, th))
        zh, en = reason(observed, mu, pex, yoy, freq=freq)
        if partial:
            stamp = f"{as_of(ws):%m-%d %H:%M}"
            pre = {lang: t("board.partial_reason", lang, as_of=stamp, share=f"{due:.0%}")
                   for lang in ("zh", "en")}
            zh, en = [pre["zh"] + z for z in zh], [pre["en"] + e for e in en]
        table["reason_zh"], table["reason_en"] = zh, en
        table["observed"] = table["observed"].astype(np.int64)
        if missing:  # a gap in the data: no colour, grey on maps
            table["p_exceed"] = np.nan
            table["level"] = pd.Categorical([None] * len(table), dtype=table["level"].dtype)
            table["reason_zh"] = t("board.no_data", "zh")
            table["reason_en"] = t("board.no_data", "en")
    table["mode"] = mode
    table["model"] = model
    # 一月一排位: worst level first, then the most surprising, then the most cases
    code = table["level"].cat.codes.to_numpy()
    order = np.lexsort((table["area_id"].to_numpy(), -np.nan_to_num(table["expected"].to_numpy()),
                        -np.nan_to_num(table["observed"].to_numpy(float)),
                        np.nan_to_num(table["p_exceed"].to_numpy(), nan=1.0), -code))
    table = table.iloc[order].reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    areas = _areas(ws, level)
    from analytics.service.names import display_names

    ids = areas["area_id"].astype(str)
    geo = areas[["area_id", "geometry"]].assign(  # readable names: no raw generated-cell id
        area_id=ids, name=ids.map(display_names(ws, level)).fillna(ids).to_numpy())
    from analytics.service.ranking import with_rates

    out = with_rates(geo.merge(table, on="area_id", how="right"), areas)  # 万人发案率 (NaN: no population)
    out.insert(2, "level_name", level)
    cols = ["area_id", "name", "level_name", "period", "category", "observed", "expected", "q80",
            "q95", "q99", "p_exceed", "level", "reason_zh", "reason_en", "yoy", "mom",
            "observed_last_year", "observed_prev", "rank", "population", "households", "rate", "mu", "alpha",
            "mode", "model", "geometry"]
    gdf = gpd.GeoDataFrame(out[cols], geometry="geometry", crs=areas.crs)
    chance = expected_by_chance(pred, th) if mode == "alert" else {"orange": np.nan, "red": np.nan}
    gdf.attrs["expected_reds"] = float(chance["red"])
    gdf.attrs["chance"] = {k: float(v) for k, v in chance.items()}
    gdf.attrs["kappa"] = pred.attrs.get("kappa")  # EB's prior shape (None for other models)
    gdf.attrs["own_weight"] = pred.attrs.get("own_weight")
    gdf.attrs["floored"] = pred.attrs.get("floored", 0)
    gdf.attrs["thresholds"] = th
    gdf.attrs["model"] = model
    gdf.attrs["as_of"] = as_of(ws)
    gdf.attrs["period"] = p  # the period asked for (in forecast mode the origin)
    gdf.attrs["partial"] = bool(partial)
    gdf.attrs["share"] = due
    gdf.attrs["missing"] = bool(missing)
    return gdf


def _forecast_share(levels, th: Thresholds, lang: str) -> list[str]:
    word = {lv: t("board.reason_forecast_top", lang, share=f"{getattr(th, 'forecast_' + lv):.0%}")
            for lv in ("red", "orange", "yellow")}
    word["green"] = t("board.reason_forecast_rest", lang)
    return [word[str(v)] for v in levels]


def level_counts(table: pd.DataFrame) -> dict[str, int]:
    """Number of areas per colour, every colour present (``{"green": n, …, "red": n}``)."""
    vc = pd.Series(table["level"]).astype(str).value_counts()
    return {lv: int(vc.get(lv, 0)) for lv in LEVELS}


# -- KPIs -----------------------------------------------------------------------------------------
def kpis(ws, period=None, freq: str = "W", category: str | None = None,
         level: str | None = None, area_ids=None) -> dict[str, Any]:
    """Headline figures of a period, over the whole layer or the areas ``area_ids`` of it.

    Returns
    -------
    dict
        ``period, category, level, total, total_last_year, yoy, total_prev, mom`` (counts summed
        over the layer's areas; 同比 against the same period a year earlier — 52 weeks / 12
        months — and 环比 against the previous period, fractions or None), ``levels`` (areas per
        colour), ``expected_reds`` and ``chance`` (``{"orange", "red"}``: areas expected in each
        colour by chance alone if every forecast were right), ``n_areas``, and
        ``liangqiang_yidao`` = ``{"name": "两抢一盗", "count", "last_year", "yoy"}`` when the
        taxonomy has that group (else None), ``missing`` (the period is a gap, :func:`gaps`),
        ``partial`` (``period=`` :data:`PARTIAL`: the running period so far) and ``as_of``
        (the data's as-of time).
    """
    level = level or default_level(ws)
    partial = isinstance(period, str) and period == PARTIAL
    p = _partial_arg(ws, None, freq) if partial else _period_arg(ws, period, freq)
    table = warning_table(ws, level=level, period=p, freq=freq, category=category, partial=partial)
    _, name = _group(ws, level, freq, category)
    if area_ids is not None:
        wanted = set(map(str, area_ids))
        table = table[table["area_id"].astype(str).isin(wanted).to_numpy()]

    def totals(cat_name):
        keys, ps, Y = _matrix(ws, level, freq, cat_name)
        if area_ids is not None:
            Y = Y[keys["area_id"].astype(str).isin(wanted).to_numpy()]
        j = ps.get_loc(p)
        L = season_length(freq)
        tot = float(Y[:, j].sum())
        ly = float(Y[:, j - L].sum()) if j - L >= 0 else None
        prev = float(Y[:, j - 1].sum()) if j >= 1 else None
        return tot, ly, prev

    tot, ly, prev = totals(name)
    th = Thresholds.from_config(ws.config.thresholds)
    chance = {k: float(v) for k, v in expected_by_chance(table[["mu", "alpha"]], th).items()}
    group = "两抢一盗"
    lqyd = None
    if group in ws.config.taxonomy.groups:
        _group(ws, level, freq, group)
        g_tot, g_ly, _ = totals(group)
        lqyd = {"name": group, "count": int(g_tot), "last_year": None if g_ly is None else int(g_ly),
                "yoy": _change(g_tot, g_ly)}
    return {
        "period": p, "category": name, "level": level,
        "total": int(tot),
        "total_last_year": None if ly is None else int(ly),
        "yoy": _change(tot, ly),
        "total_prev": None if prev is None else int(prev),
        "mom": _change(tot, prev),
        "levels": level_counts(table),
        "model": table.attrs.get("model"),
        "model_note": table.attrs.get("model_note"),
        "expected_reds": chance["red"],
        "chance": chance,
        "n_areas": len(table),
        "liangqiang_yidao": lqyd,
        "missing": bool(table.attrs.get("missing", False)),
        "partial": partial,
        "as_of": as_of(ws),
    }


def _change(now: float, before: float | None) -> float | None:
    if before is None or before <= 0:
        return None
    return now / before - 1


# -- trend ------------------------------------------------------------------------------------------
def trend(ws, area_id: str, category: str | None = None, freq: str = "W",
          n_periods: int = 104, model: str | None = None) -> pd.DataFrame:
    """Observed counts of one area against one-step-ahead forecasts of the board's model.

    Each period's expected value and bands come from the model fitted on the periods before it
    (all areas of the layer, as on the board), so the chart shows what the board would have
    said at the time — no look-ahead.

    Returns
    -------
    DataFrame
        ``period, observed, expected, q05, q80, q95, q99, p_exceed, level`` for the last
        ``n_periods`` complete periods that have at least two earlier periods.
    """
    _model_name(model)
    level = _layer_of(ws, str(area_id))
    _, name = _group(ws, level, freq, category)
    model, _ = _resolve_model(ws, model, level, freq, name)
    args = (str(area_id), level, freq, name, int(n_periods), model)
    return _cached(ws, "trend", args,
                   lambda: _trend(ws, str(area_id), level, freq, name, int(n_periods), model)).copy()


def _trend_forecasts(ws, level, freq, name, n_periods, model):
    """``(idx, mu, alpha)``: one-step forecasts of every area of the layer for the periods
    ``idx`` a trend shows (``mu``/``alpha`` areas × periods), fitted once per layer, category,
    model and version — every area's trend (the trends page, the briefing's worst areas) slices
    it instead of refitting the layer once per period shown."""
    def compute():
        keys, ps, _ = _matrix(ws, level, freq, name)
        Yfit = _new_areas_missing(ws, level, freq, keys, ps, _fit_matrix(ws, level, freq, name))
        complete = set(periods(ws, freq))
        idx = [j for j in range(2, len(ps)) if ps[j] in complete][-n_periods:]
        parent, coords, static = _parent_map(ws, level), _coords(ws, level), _static(ws, level, model)
        related = _related(ws, level, freq, name, model)
        mu = np.empty((len(keys), len(idx)))
        al = np.empty((len(keys), len(idx)))
        for i, j in enumerate(idx):  # one fit per period shown (vectorised over areas inside)
            m = make_model(model, parent=parent, coords=coords, static=static, related=related).fit(
                CountMatrix(keys, ps[:j], Yfit[:, :j], freq))
            mu_j, al_j = m.predict(1, as_arrays=True)
            mu[:, i] = np.maximum(mu_j[:, 0], _floor_values(ws, level, keys, Yfit[:, :j]))  # as the board
            al[:, i] = al_j[:, 0]
        return idx, mu, al

    return _cached(ws, "trend_forecasts", (level, freq, name, n_periods, model), compute)


def _trend(ws, area_id, level, freq, name, n_periods, model):
    from analytics.distributions import quantile

    keys, ps, Y = _matrix(ws, level, freq, name)
    row = int(np.flatnonzero(keys["area_id"].to_numpy() == area_id)[0])
    idx, mus, alphas = _trend_forecasts(ws, level, freq, name, n_periods, model)
    mu, al = mus[row].copy(), alphas[row].copy()
    obs = Y[row, idx]
    th = Thresholds.from_config(ws.config.thresholds)
    pex = _p_exceed(obs, mu, al)
    levels = levels_from_p(pex, obs, th, expected=mu)
    gap = ps[idx].isin(list(gap_periods(ws, freq)))
    if gap.any():  # no data: no colour (grey), no p-value
        pex = np.where(gap, np.nan, pex)
        levels = levels.copy()
        levels[gap] = np.nan
    return pd.DataFrame({
        "period": ps[idx], "observed": obs.astype(np.int64), "expected": mu,
        "q05": quantile(0.05, mu, al), "q80": quantile(0.80, mu, al), "q95": quantile(0.95, mu, al),
        "q99": quantile(0.99, mu, al), "p_exceed": pex,
        "level": levels, "missing": gap,
    })


def _layer_of(ws, area_id: str) -> str:
    for layer in ws.layers():
        ids = _cached(ws, "ids", (layer,), lambda layer=layer: set(_areas(ws, layer)["area_id"].astype(str)))
        if area_id in ids:
            return layer
    raise ValueError(f"area_id {area_id!r}: not in any layer of {ws.path}")
