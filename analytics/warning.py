"""The four-colour rule: green < yellow < orange < red, from a predictive distribution.

Alert mode (the default; design.md "Warning levels"). With ``p = P(X >= observed)`` under the
period's predictive distribution (fitted on earlier periods only) and ``expected`` its mean:

- red:    ``p <= 1 - red`` (0.01), ``observed >= min_count`` (3) and
  ``observed - expected >= min_excess_red`` (3)
- orange: ``p <= 1 - orange`` (0.05) and ``observed >= min_count_orange`` (3)
- yellow: ``p <= 1 - yellow`` (0.20)
- green:  otherwise.

An area gets the highest level whose conditions it meets all of: a red that fails a count
floor is orange if it meets orange's, else yellow (a 1-case 网格 at ``P<0.001`` is yellow, not
red or orange). The floors keep one or two cases in a quiet cell from lighting the board: on the
demo city, grid/故意伤害 showed ~47 oranges a week, 99 % of them with <= 2 cases, all chance.
The rule before the floors stays reachable with ``min_count_orange = 0`` and
``min_excess_red = 0`` in ``[thresholds]``.

**Discrete counts, precisely.** With ``q99`` the smallest ``k`` with ``F(k) >= 0.99``,
``p <= 0.01`` is the same as ``observed > q99`` (``observed >= q99 + 1``). We use this form of
"at or beyond the 99th percentile" because it keeps ``P(red | the forecast is right) <= 1%``;
the literal ``observed >= q99`` would colour every zero yellow in a quiet 网格 whose ``q80``
is 0.

Other modes: :func:`forecast_levels` colours the top 1% / 5% / 20% of areas by next period's
expected count (patrol planning); :func:`yoy_levels` colours by 同比 change. The board always
shows 同比 and 环比 beside the statistical level, never instead of it.

Multiple testing: :func:`expected_by_chance` gives the number of oranges and reds expected by
chance alone across the areas shown, under this same rule with its floors (exact sums over the
discrete predictive distributions); show it beside the counts. Benjamini–Hochberg
(:func:`bh_reject`, :func:`fdr_confirmed`) is a badge beside a colour, not a gate; the old gate
``Thresholds(fdr=True)`` (red also needs BH rejection at ``fdr_q``) is kept for configs that
set it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.distributions import p_exceed as _p_exceed
from analytics.distributions import quantile
from analytics.multiple_testing import bh_reject

__all__ = [
    "LEVELS",
    "LEVEL_DTYPE",
    "Thresholds",
    "bh_reject",
    "classify",
    "expected_by_chance",
    "expected_oranges",
    "expected_reds",
    "fdr_confirmed",
    "forecast_levels",
    "levels_from_p",
    "reason",
    "summary_line",
    "yoy_levels",
]

LEVELS: tuple[str, ...] = ("green", "yellow", "orange", "red")
#: Ordered categorical dtype of the ``level`` column.
LEVEL_DTYPE = pd.CategoricalDtype(list(LEVELS), ordered=True)

# Relative tolerance on probability comparisons (1 - 0.99 is 0.010000000000000009 in floats).
_EPS = 1e-12


@dataclass(frozen=True)
class Thresholds:
    """Warning thresholds (one per workspace, ``[thresholds]`` in ``config.toml``).

    Parameters
    ----------
    yellow, orange, red : float
        Percentile levels of the predictive distribution.
    min_count : int
        Red needs at least this many cases (3).
    min_count_orange : int
        Orange needs at least this many cases (3; 0 = the rule before issue 14).
    min_excess_red : float
        Red needs ``observed - expected`` at least this (3; 0 = the rule before issue 14).
    fdr : bool
        Red also needs Benjamini–Hochberg rejection at ``fdr_q`` across the areas shown (a
        gate, off by default; the board shows BH as a badge, :func:`fdr_confirmed`).
    fdr_q : float
    forecast_red, forecast_orange, forecast_yellow : float
        Forecast mode: shares of areas (top by expected count) per colour, cumulative.
    yoy_red, yoy_orange, yoy_yellow : float
        同比 mode: year-on-year change (fraction) at or above which each colour applies.
    """

    yellow: float = 0.80
    orange: float = 0.95
    red: float = 0.99
    min_count: int = 3
    min_count_orange: int = 3
    min_excess_red: float = 3.0
    fdr: bool = False
    fdr_q: float = 0.05
    forecast_red: float = 0.01
    forecast_orange: float = 0.05
    forecast_yellow: float = 0.20
    yoy_red: float = 0.50
    yoy_orange: float = 0.20
    yoy_yellow: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.yellow < self.orange < self.red < 1:
            raise ValueError(
                f"thresholds: need 0 < yellow < orange < red < 1, got {self.yellow}, "
                f"{self.orange}, {self.red}")
        for key in ("min_count", "min_count_orange", "min_excess_red"):
            if not getattr(self, key) >= 0:
                raise ValueError(f"thresholds: {key} must be >= 0, got {getattr(self, key)}")
        if not 0 < self.fdr_q < 1:
            raise ValueError(f"thresholds: fdr_q must be in (0, 1), got {self.fdr_q}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Thresholds:
        """Build from the ``[thresholds]`` table of ``config.toml`` (unknown keys raise)."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"config.toml [thresholds]: unknown key(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**config)


def levels_from_p(p, observed, thresholds: Thresholds = Thresholds(), *, expected=None,
                  fdr_mask=None) -> pd.Categorical:
    """Levels from upper-tail p-values (the core rule; pure).

    Parameters
    ----------
    p : array_like of float
        ``P(X >= observed)`` under each area's predictive distribution.
    observed : array_like of int
    thresholds : Thresholds
    expected : array_like of float, optional
        The predictive means; needed when ``thresholds.min_excess_red > 0``.
    fdr_mask : array_like of bool, optional
        BH-rejected areas when ``thresholds.fdr`` is set (default: BH over ``p``).

    Returns
    -------
    pandas.Categorical
        The highest level whose conditions each area meets (see the module docstring).
    """
    p = np.asarray(p, float)
    y = np.asarray(observed, float)
    t = thresholds
    if expected is None:
        if t.min_excess_red > 0:
            raise ValueError("levels_from_p: expected= is needed when thresholds.min_excess_red "
                             f"> 0 (got {t.min_excess_red}); pass the predictive means")
        excess_ok = np.ones(p.shape, bool)
    else:
        excess_ok = y - np.asarray(expected, float) >= t.min_excess_red - 1e-9
    code = np.zeros(p.shape, dtype=np.int8)
    code[p <= (1 - t.yellow) * (1 + _EPS)] = 1
    code[(p <= (1 - t.orange) * (1 + _EPS)) & (y >= t.min_count_orange)] = 2
    red = (p <= (1 - t.red) * (1 + _EPS)) & (y >= t.min_count) & excess_ok
    if t.fdr:
        red &= np.asarray(fdr_mask if fdr_mask is not None else bh_reject(p, t.fdr_q), bool)
    code[red] = 3
    return pd.Categorical.from_codes(code.ravel(), dtype=LEVEL_DTYPE)


def classify(observed, predictive: pd.DataFrame,
             thresholds: Thresholds = Thresholds()) -> pd.Categorical:
    """Level of each observed count under its row of the predictive table (pure function).

    Parameters
    ----------
    observed : array_like of int
        Observed counts, aligned with the rows of ``predictive``.
    predictive : DataFrame
        Rows with ``mu`` and ``alpha`` (the predictive table of any model).
    thresholds : Thresholds

    Returns
    -------
    pandas.Categorical
        Ordered categorical green < yellow < orange < red.

    Examples
    --------
    >>> pred = pd.DataFrame({"mu": [2.0, 2.0, 2.0], "alpha": [0.0, 0.0, 0.0]})
    >>> list(classify([2, 6, 7], pred))     # Poisson(2): q80=3, q95=5, q99=6
    ['green', 'orange', 'red']
    >>> pred = pd.DataFrame({"mu": [0.05] * 4, "alpha": [0.0] * 4})
    >>> list(classify([1, 2, 3, 4], pred))  # P<0.002 each; the floors decide (3 - 0.05 < 3)
    ['yellow', 'yellow', 'orange', 'red']
    """
    mu = predictive["mu"].to_numpy(float)
    p = _p_exceed(observed, mu, predictive["alpha"].to_numpy(float))
    return levels_from_p(p, observed, thresholds, expected=mu)


def fdr_confirmed(p, q: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg confirmation over the areas shown: a badge, not a gate.

    True where the BH-adjusted p-value (:func:`scipy.stats.false_discovery_control`) is
    ``<= q``. Missing p-values (NaN, e.g. forecast mode) are left out of the family and are
    never confirmed.
    """
    return bh_reject(p, q)


def expected_by_chance(predictive: pd.DataFrame,
                       thresholds: Thresholds = Thresholds()) -> dict[str, float]:
    """Numbers of areas expected orange and red by chance if every forecast were right.

    For each area, ``P(level = L | X ~ predictive)`` under the same rule as :func:`classify`
    with its count floors, summed over the areas: exact over the discrete distribution (each
    level is reached from some count ``k_L`` upward, because every condition of the rule grows
    with the count; ``k_L`` is found by bisection with :func:`levels_from_p` itself, so the two
    can never disagree). The BH gate (``thresholds.fdr``) is left out: it depends on the other
    areas' draws, so with it on these figures are upper bounds.

    Parameters
    ----------
    predictive : DataFrame
        Rows with ``mu`` and ``alpha``, one per area shown.
    thresholds : Thresholds

    Returns
    -------
    dict
        ``{"orange": float, "red": float}``.

    Examples
    --------
    >>> pred = pd.DataFrame({"mu": [2.0], "alpha": [0.0]})
    >>> {k: round(v, 4) for k, v in expected_by_chance(pred).items()}   # orange = 6, red >= 7
    {'orange': 0.012, 'red': 0.0045}
    """
    mu = np.asarray(predictive["mu"], float)
    alpha = np.asarray(predictive["alpha"], float)
    th = replace(thresholds, fdr=False)
    k_orange = _first_count_at(2, mu, alpha, th)
    k_red = _first_count_at(3, mu, alpha, th)
    at_least_orange = _p_exceed(k_orange, mu, alpha)
    red = _p_exceed(k_red, mu, alpha)
    return {"orange": float(np.sum(at_least_orange - red)), "red": float(np.sum(red))}


def expected_reds(predictive: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> float:
    """Number of areas expected red by chance (see :func:`expected_by_chance`)."""
    return expected_by_chance(predictive, thresholds)["red"]


def expected_oranges(predictive: pd.DataFrame, thresholds: Thresholds = Thresholds()) -> float:
    """Number of areas expected orange by chance (see :func:`expected_by_chance`)."""
    return expected_by_chance(predictive, thresholds)["orange"]


def _first_count_at(code: int, mu: np.ndarray, alpha: np.ndarray, th: Thresholds) -> np.ndarray:
    """Smallest count at which each area's level code is ``>= code`` (vectorised bisection)."""
    if mu.size == 0:
        return np.zeros(0, np.int64)
    # Beyond the 1 - 1e-13 quantile and every floor, every condition holds.
    floors = max(th.min_count, th.min_count_orange)
    hi = np.maximum(quantile(1 - 1e-13, mu, alpha) + 1,
                    np.maximum(floors, np.ceil(np.maximum(mu, 0) + th.min_excess_red) + 1))
    hi = hi.astype(np.int64)
    lo = np.full(mu.shape, -1, np.int64)  # a count of -1 is green (p = 1)

    def meets(k):
        p = _p_exceed(k, mu, alpha)
        return np.asarray(levels_from_p(p, k, th, expected=mu).codes) >= code

    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = meets(mid)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def summary_line(table: pd.DataFrame, thresholds: Thresholds = Thresholds(), *,
                 q: float = 0.05) -> str:
    """One line for ``pingan warn``: areas per colour, chance figures and BH confirmations.

    Parameters
    ----------
    table : DataFrame
        ``level`` and, in alert mode, ``mu``, ``alpha`` and ``p_exceed`` (a warning table);
        ``fdr_confirmed`` is used when present, else computed at ``q``.
    thresholds : Thresholds
        The rule the levels were made with (chance figures use the same floors).

    Examples
    --------
    >>> t = pd.DataFrame({"level": pd.Categorical(["red", "green"], dtype=LEVEL_DTYPE),
    ...                   "mu": [2.0, 2.0], "alpha": [0.0, 0.0], "p_exceed": [0.0045, 0.6]})
    >>> summary_line(t)
    'red 1 (0.01 by chance), orange 0 (0.02 by chance), yellow 0, green 1; BH-confirmed (q=0.05): 1 of 2'
    """
    lv = pd.Series(pd.Categorical(table["level"], dtype=LEVEL_DTYPE)).value_counts()
    alert = {"mu", "alpha", "p_exceed"} <= set(table.columns) and bool(
        np.isfinite(np.asarray(table["p_exceed"], float)).any())
    chance = expected_by_chance(table, thresholds) if alert else None
    parts = []
    for name in reversed(LEVELS):
        txt = f"{name} {int(lv.get(name, 0))}"
        if chance is not None and name in chance:
            txt += f" ({chance[name]:.2f} by chance)"
        parts.append(txt)
    line = ", ".join(parts)
    if alert:
        conf = (np.asarray(table["fdr_confirmed"], bool) if "fdr_confirmed" in table
                else fdr_confirmed(table["p_exceed"], q))
        line += f"; BH-confirmed (q={q:g}): {int(conf.sum())} of {len(table)}"
    return line


def forecast_levels(expected, area_id=None,
                    thresholds: Thresholds = Thresholds()) -> pd.Categorical:
    """Forecast mode: top ``forecast_red`` share of areas by expected count red, then orange, yellow.

    Ties are broken by ``area_id`` (ascending) so the result is deterministic; the number of
    areas per colour is ``round(share * n)`` (at least one red when any area has risk).
    Areas with zero expected count stay green.
    """
    e = np.asarray(expected, float)
    n = e.size
    ids = np.asarray(area_id if area_id is not None else np.arange(n)).astype(str)
    order = np.lexsort((ids, -e))
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    t = thresholds
    n_red = max(1, round(t.forecast_red * n)) if n else 0
    n_or = max(n_red, round(t.forecast_orange * n))
    n_ye = max(n_or, round(t.forecast_yellow * n))
    code = np.select([rank < n_red, rank < n_or, rank < n_ye], [3, 2, 1], 0).astype(np.int8)
    code[e <= 0] = 0
    return pd.Categorical.from_codes(code, dtype=LEVEL_DTYPE)


def yoy_levels(observed, last_year, thresholds: Thresholds = Thresholds()) -> pd.Categorical:
    """同比 mode: colour by year-on-year change ``observed / last_year - 1``.

    A rise from 0 counts as an infinite change; red still needs ``min_count`` cases (a rise
    that misses it is shown orange).
    """
    y = np.asarray(observed, float)
    ly = np.asarray(last_year, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(ly > 0, y / ly - 1, np.where(y > 0, np.inf, 0.0))
    t = thresholds
    tol = 1e-9  # 12/10 - 1 is 0.19999999999999996 in floating point
    code = np.select([change >= t.yoy_red - tol, change >= t.yoy_orange - tol,
                      change >= t.yoy_yellow - tol],
                     [3, 2, 1], 0).astype(np.int8)
    code[(code == 3) & (y < t.min_count)] = 2
    return pd.Categorical.from_codes(code, dtype=LEVEL_DTYPE)


_PERIOD_WORD = {"W": ("本周", "this week"), "M": ("本月", "this month"), "D": ("当日", "today")}


def reason(observed, expected, p, yoy=None, *, freq: str = "W") -> tuple[list[str], list[str]]:
    """One sentence per area, in Chinese and in English.

    Examples
    --------
    >>> zh, en = reason([14], [5.2], [0.003], [1.8])
    >>> zh[0]
    '本周 14 起，预期 5.2 起（P=0.003），同比 +180%'
    >>> en[0]
    '14 this week, 5.2 expected (P=0.003), +180% year on year'
    """
    word_zh, word_en = _PERIOD_WORD.get(freq, _PERIOD_WORD["W"])
    obs = np.asarray(observed, float).ravel()
    exp = np.asarray(expected, float).ravel()
    pp = np.asarray(p, float).ravel()
    yy = np.full(obs.shape, np.nan) if yoy is None else np.asarray(yoy, float).ravel()
    zh, en = [], []
    for o, e, pv, c in zip(obs, exp, pp, yy):  # string formatting per displayed area
        ptxt = "P<0.001" if pv < 0.001 else f"P={pv:.3f}"
        s_zh = f"{word_zh} {int(o)} 起，预期 {e:.1f} 起（{ptxt}）"
        s_en = f"{int(o)} {word_en}, {e:.1f} expected ({ptxt})"
        if math.isfinite(c):
            s_zh += f"，同比 {c:+.0%}"
            s_en += f", {c:+.0%} year on year"
        zh.append(s_zh)
        en.append(s_en)
    return zh, en
