"""Incidents of the demo city: a seeded, fully vectorised generative process with ground truth.

Process (per category ``c``; everything is drawn as arrays, never per incident in Python):

1. *Background*: expected count per (网格 ``g``, week ``w``) = ``E_c (1-ps_c) s_gc T_cw``, where
   ``s_gc ∝ population_g · exp(β_c · field_g)`` is a smooth spatial risk (the field is a sum of
   Gaussian bumps plus low-frequency waves) and ``T_cw`` is the share of the category's
   temporal intensity in week ``w``: a daily intensity = long-run decline ``(1-r)^years`` ×
   weekday profile × annual cycle × 春节 effect (on the right dates, :data:`SPRING_FESTIVAL`).
   Counts are Poisson; points are uniform within the 网格; the day within the week follows the
   daily intensity and the hour the category's hour-of-day profile.
2. *Hot places* (交通枢纽, 商业中心, 城中村, 夜市/酒吧街): a share ``ps_c`` of the category goes to
   places with category-specific weights (扒窃 at hubs and commercial centres, 入室盗窃 in 城中村,
   寻衅滋事 at night-life); points are Gaussian around the place; night-life events follow a
   night hour profile.
3. *Outbreaks* (ground truth): a fixed excess per week in one 网格 or 社区 for a few weeks.
4. *Near repeats*: every 入室盗窃 triggers Poisson(η) offspring within 200 m and 1–13 days
   (a Hawkes branching process simulated generation by generation).
5. *Crackdown* (整治): after its start, 两抢一盗 events inside a key area are thinned to
   ``1 + effect`` of their rate (a known multiplicative effect for difference-in-differences).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from data.calendar import spring_festival as _spring_festival
from data.demo_geography import DEMO_CRS, DemoCity
from data.taxonomy import DEFAULT_GROUPS, DEMO_CATEGORIES

__all__ = ["SPRING_FESTIVAL", "CATEGORY_SPECS", "DemoEvents", "generate_events", "spring_festival"]

#: 春节 (Chinese New Year's day, 正月初一) by Gregorian year, for the demo's years 2015–2035
#: (taken from the one table, :data:`data.calendar.SPRING_FESTIVAL`).
SPRING_FESTIVAL: dict[int, dt.date] = {y: _spring_festival(y).date() for y in range(2015, 2036)}

_TWO_ROB_ONE_THEFT = frozenset(DEFAULT_GROUPS["两抢一盗"])
_NIGHT = ((23.0, 2.0, 1.0), (1.5, 2.0, 1.0))


@dataclass(frozen=True)
class _Spec:
    share: float
    beta: float  # weight of the smooth urban field
    place_share: float
    place_weights: dict[str, float]
    season: tuple[float, float]  # amplitude, peak day of year
    weekday: tuple[float, ...]  # Monday..Sunday
    hours: tuple[tuple[float, float, float], ...]  # (peak hour, width h, weight)
    subtypes: tuple[tuple[str, float], ...] = ()


_FLAT = (1.0,) * 7
_WEEKEND = (0.95, 0.95, 0.95, 1.0, 1.1, 1.3, 1.25)
#: Per-category generative parameters (share of all incidents, spatial and temporal shape).
CATEGORY_SPECS: dict[str, _Spec] = {
    "入室盗窃": _Spec(0.11, 0.3, 0.35, {"城中村": 3.0, "商业中心": 0.3}, (0.10, 20), (1.05, 1, 1, 1, 1.05, 0.95, 0.95),
                  ((11, 3, 1.0), (3, 2, 0.8)), (("撬锁入室", 0.4), ("攀爬入室", 0.25), ("溜门入室", 0.35))),
    "盗窃电动车": _Spec(0.14, 0.4, 0.30, {"城中村": 2.0, "商业中心": 1.0, "交通枢纽": 1.0}, (0.15, 200), _FLAT,
                   ((21, 3, 1.0), (2, 3, 0.6), (13, 3, 0.4))),
    "扒窃": _Spec(0.09, 0.8, 0.55, {"交通枢纽": 3.0, "商业中心": 2.5, "夜市/酒吧街": 1.0}, (0.10, 180), _WEEKEND,
                ((8, 1.5, 1.0), (12, 2, 0.8), (18, 2, 1.2))),
    "抢劫": _Spec(0.02, 0.6, 0.30, {"夜市/酒吧街": 2.0, "城中村": 1.0, "交通枢纽": 1.0}, (0.05, 330), _WEEKEND,
                ((23, 2.5, 1.0), (3, 2, 0.7))),
    "抢夺": _Spec(0.03, 0.6, 0.35, {"商业中心": 1.5, "夜市/酒吧街": 1.5, "交通枢纽": 1.0}, (0.05, 330), _FLAT,
                ((19, 3, 1.0), (11, 2, 0.5)), (("飞车抢夺", 0.4), ("徒步抢夺", 0.6))),
    "电信网络诈骗": _Spec(0.22, 0.05, 0.02, {"商业中心": 1.0}, (0.05, 300), (1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.75),
                    ((10, 3, 1.0), (15, 3, 1.0), (20, 2, 0.6)),
                    (("刷单返利", 0.3), ("虚假投资理财", 0.2), ("冒充客服", 0.2), ("冒充公检法", 0.1), ("网络贷款", 0.2))),
    "故意伤害": _Spec(0.06, 0.5, 0.30, {"夜市/酒吧街": 3.0, "城中村": 1.0}, (0.20, 200), (0.9, 0.9, 0.9, 0.95, 1.15, 1.3, 1.1),
                  ((22, 3, 1.0), (1, 2, 0.8))),
    "寻衅滋事": _Spec(0.08, 0.6, 0.45, {"夜市/酒吧街": 4.0, "商业中心": 0.5}, (0.25, 200), (0.85, 0.85, 0.9, 0.95, 1.15, 1.4, 1.1),
                  ((23, 2, 1.0), (1, 2, 0.9))),
    "毒品": _Spec(0.04, 0.5, 0.35, {"夜市/酒吧街": 2.0, "城中村": 2.0}, (0.05, 100), _FLAT, ((22, 3, 1.0), (2, 2, 1.0))),
    "其他": _Spec(0.21, 0.3, 0.10, {"商业中心": 1.0, "交通枢纽": 1.0}, (0.05, 200), _FLAT, ((10, 4, 1.0), (16, 4, 1.0))),
}
assert tuple(CATEGORY_SPECS) == DEMO_CATEGORIES


def spring_festival(year: int) -> dt.date:
    """The 春节 date of ``year`` (2015–2035), from :data:`SPRING_FESTIVAL`."""
    try:
        return SPRING_FESTIVAL[year]
    except KeyError:
        raise ValueError(f"year={year}: 春节 dates are tabulated for 2015–2035 only") from None


@dataclass
class DemoEvents:
    """Generated incidents and their ground truth.

    Attributes
    ----------
    incidents : DataFrame
        incident_id, occurred_at (naive local, minute resolution), category, subtype, x, y
        (UTM metres), lon, lat, origin (background/place/outbreak/near_repeat) — sorted by time.
    outbreaks : DataFrame
        outbreak_id, area_id, level, category, start, weeks, excess_per_week, baseline_per_week,
        injected.
    interventions : DataFrame
        One 整治: intervention_id, name, place, layer, area_ids, start, effect, categories.
    """

    incidents: pd.DataFrame
    outbreaks: pd.DataFrame
    interventions: pd.DataFrame


def generate_events(
    city: DemoCity,
    rng: np.random.Generator,
    *,
    n: int,
    start: dt.date,
    weeks: int,
    decline: float = 0.2,
    branching: float = 0.25,
    n_outbreaks: int = 15,
    crackdown_effect: float = -0.4,
) -> DemoEvents:
    """Draw the demo incidents (see module docstring for the process).

    Parameters
    ----------
    city : DemoCity
    rng : numpy.random.Generator
    n : int
        Expected number of incidents (all categories, offspring and outbreaks included).
    start : datetime.date
        First day (a Monday); the data covers ``weeks`` whole weeks from it.
    decline : float
        Long-run decline per year (0.2 = −20 %/year).
    branching : float
        Near-repeat branching ratio of 入室盗窃 (mean offspring per burglary, < 1).
    n_outbreaks : int
        Injected outbreaks (ground truth).
    crackdown_effect : float
        Multiplicative effect of the 整治 on 两抢一盗 inside the key area (−0.4 = −40 %).
    """
    if not 0 <= branching < 1:
        raise ValueError(f"branching={branching}: must be in [0, 1)")
    if not 0 <= decline < 1:
        raise ValueError(f"decline={decline}: must be in [0, 1)")
    if weeks < 30:
        raise ValueError(f"weeks={weeks}: the demo needs at least 30 weeks")
    g = _Gen(city, rng, start, weeks)
    cats = list(CATEGORY_SPECS)
    daily = g.daily_intensity(decline)  # (C, days)
    weekly = daily.reshape(len(cats), weeks, 7).sum(-1)
    weekly /= weekly.sum(1, keepdims=True)

    key_grids, key_place = g.key_area()
    outbreaks = g.plan_outbreaks(n_outbreaks, key_grids, n, weekly)
    excess_total = float((outbreaks["excess_per_week"] * outbreaks["weeks"]).sum())
    n_eff = max(n - excess_total, 0.0)
    parts = []
    for ci, c in enumerate(cats):  # ten categories: arrays inside
        spec = CATEGORY_SPECS[c]
        e_c = n_eff * spec.share * ((1 - branching) if c == "入室盗窃" else 1.0)
        parts.append(g.background(ci, spec, e_c * (1 - spec.place_share), weekly[ci], daily[ci]))
        parts.append(g.place_events(ci, spec, e_c * spec.place_share, weekly[ci], daily[ci]))
    outbreaks, ob_events = g.outbreak_events(outbreaks, daily)
    parts.append(ob_events)
    ev = pd.concat(parts, ignore_index=True)
    ev = pd.concat([ev, g.near_repeats(ev[ev["ci"] == cats.index("入室盗窃")], branching)], ignore_index=True)

    crack_start = start + dt.timedelta(weeks=max(weeks - 26, weeks // 2))
    key_poly = shapely.union_all(city.grids.geometry.to_numpy()[np.isin(city.grids["area_id"], key_grids)])
    hit = (
        np.isin(ev["ci"].to_numpy(), [cats.index(c) for c in _TWO_ROB_ONE_THEFT])
        & (ev["t"].to_numpy() >= g.minutes(crack_start))
        & shapely.contains_xy(key_poly, ev["x"].to_numpy(), ev["y"].to_numpy())
    )
    drop = hit & (rng.random(len(ev)) >= 1 + crackdown_effect)
    ev = ev[~drop]
    interventions = pd.DataFrame(
        {
            "intervention_id": ["I01"],
            "name": [f"{key_place['name']}治安重点地区专项整治"],
            "place": [key_place["name"]],
            "layer": ["grid"],
            "area_ids": [list(key_grids)],
            "start": [pd.Timestamp(crack_start)],
            "effect": [crackdown_effect],
            "categories": [sorted(_TWO_ROB_ONE_THEFT)],
            "group": ["两抢一盗"],
        }
    )
    return DemoEvents(g.finish(ev), outbreaks, interventions)


class _Gen:
    """Shared state of one generation run (kept private: the public API is generate_events)."""

    def __init__(self, city: DemoCity, rng: np.random.Generator, start: dt.date, weeks: int):
        self.city, self.rng, self.start, self.weeks = city, rng, start, weeks
        grids = city.grids
        self.geoms = grids.geometry.to_numpy()
        shapely.prepare(self.geoms)
        shapely.prepare(city.boundary)
        self.bounds = shapely.bounds(self.geoms)
        c = shapely.centroid(self.geoms)
        self.gx, self.gy = shapely.get_x(c), shapely.get_y(c)
        self.pop = grids["population"].to_numpy(float)
        self.area = shapely.area(self.geoms)
        self.places = city.places
        self.place_size = rng.uniform(0.7, 1.3, len(city.places))
        hours = np.arange(24)
        profiles = [_hour_profile(s.hours, hours) for s in CATEGORY_SPECS.values()] + [_hour_profile(_NIGHT, hours)]
        self.hour_cum = np.cumsum(np.array(profiles), axis=1)
        self.hour_cum /= self.hour_cum[:, -1:]

    # -- time -----------------------------------------------------------------------------
    def minutes(self, day: dt.date) -> int:
        return (day - self.start).days * 1440

    def daily_intensity(self, decline: float) -> np.ndarray:
        days = pd.date_range(self.start, periods=self.weeks * 7, freq="D")
        t_years = np.arange(len(days)) / 365.25
        trend = (1 - decline) ** t_years
        doy = days.day_of_year.to_numpy()
        dow = days.day_of_week.to_numpy()
        # days since the nearest 春节 (previous or next year's, whichever is closer)
        sf = np.array([(d - _nearest_sf(d)).days for d in days.date])
        out = np.empty((len(CATEGORY_SPECS), len(days)))
        for i, (c, s) in enumerate(CATEGORY_SPECS.items()):
            amp, peak = s.season
            season = 1 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25)
            fest = np.ones(len(days))
            if c in _TWO_ROB_ONE_THEFT:
                fest[(sf >= -21) & (sf <= -1)] = 1.25  # 年关: more theft and robbery before the festival
            fest[(sf >= 0) & (sf <= 13)] = 0.8 if c == "电信网络诈骗" else 0.5  # the city empties
            out[i] = trend * np.asarray(s.weekday)[dow] * season * fest
        return out

    def _when(self, cat_idx: np.ndarray, week: np.ndarray, daily: np.ndarray, night: np.ndarray | None = None):
        """Minute offsets from start: day by the daily intensity within the week, hour by profile."""
        n = len(week)
        w7 = daily.reshape(-1, self.weeks, 7) if daily.ndim == 2 else daily.reshape(1, self.weeks, 7)
        ci = cat_idx if daily.ndim == 2 else np.zeros(n, int)
        cum = np.cumsum(w7[ci, week], axis=1)
        day = (self.rng.random(n)[:, None] * cum[:, -1:] > cum).sum(1)
        prof = cat_idx if night is None else np.where(night, len(CATEGORY_SPECS), cat_idx)
        hour = (self.rng.random(n)[:, None] > self.hour_cum[prof]).sum(1)
        minute = self.rng.integers(0, 60, n)
        return (week * 7 + day) * 1440 + hour * 60 + minute

    # -- space ----------------------------------------------------------------------------
    def uniform_in_grids(self, gi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty(len(gi))
        y = np.empty(len(gi))
        todo = np.arange(len(gi))
        for _ in range(60):  # rejection sampling in each grid's bounding box, all at once
            b = self.bounds[gi[todo]]
            tx = b[:, 0] + self.rng.random(len(todo)) * (b[:, 2] - b[:, 0])
            ty = b[:, 1] + self.rng.random(len(todo)) * (b[:, 3] - b[:, 1])
            ok = shapely.contains_xy(self.geoms[gi[todo]], tx, ty)
            x[todo[ok]], y[todo[ok]] = tx[ok], ty[ok]
            todo = todo[~ok]
            if not len(todo):
                break
        if len(todo):  # practically never: a sliver grid; use its centroid
            x[todo], y[todo] = self.gx[gi[todo]], self.gy[gi[todo]]
        return x, y

    def near(self, x0, y0, sigma) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian points around (x0, y0), redrawn while outside the city."""
        x = np.asarray(x0, float).copy()
        y = np.asarray(y0, float).copy()
        todo = np.arange(len(x))
        for _ in range(30):
            tx = x0[todo] + self.rng.normal(0, 1, len(todo)) * sigma[todo]
            ty = y0[todo] + self.rng.normal(0, 1, len(todo)) * sigma[todo]
            ok = shapely.contains_xy(self.city.boundary, tx, ty)
            x[todo[ok]], y[todo[ok]] = tx[ok], ty[ok]
            todo = todo[~ok]
            if not len(todo):
                break
        return x, y

    # -- components -----------------------------------------------------------------------
    def background(self, ci, spec, expected, weekly, daily) -> pd.DataFrame:
        s = self.pop * np.exp(spec.beta * self.city.field)
        lam = expected * (s / s.sum())[:, None] * weekly[None, :]
        counts = self.rng.poisson(lam)
        gi, wk = np.nonzero(counts)
        rep = counts[gi, wk]
        gi, wk = np.repeat(gi, rep), np.repeat(wk, rep)
        x, y = self.uniform_in_grids(gi)
        t = self._when(np.full(len(gi), ci), wk, daily)
        return _frame(ci, t, x, y, "background")

    def place_events(self, ci, spec, expected, weekly, daily) -> pd.DataFrame:
        pw = self.places["type"].map(spec.place_weights).fillna(0.0).to_numpy() * self.place_size
        if expected <= 0 or pw.sum() == 0:
            return _frame(ci, np.array([], int), np.array([]), np.array([]), "place")
        lam = expected * (pw / pw.sum())[:, None] * weekly[None, :]
        counts = self.rng.poisson(lam)
        pi, wk = np.nonzero(counts)
        rep = counts[pi, wk]
        pi, wk = np.repeat(pi, rep), np.repeat(wk, rep)
        p = self.places
        x, y = self.near(p["x"].to_numpy()[pi], p["y"].to_numpy()[pi], p["sigma"].to_numpy()[pi])
        night = (p["type"].to_numpy()[pi] == "夜市/酒吧街") & (self.rng.random(len(pi)) < 0.7)
        t = self._when(np.full(len(pi), ci), wk, daily, night=night)
        return _frame(ci, t, x, y, "place")

    def key_area(self) -> tuple[np.ndarray, pd.Series]:
        """治安重点地区: the grids within 1.2 km of one 城中村 (the crackdown site)."""
        villages = self.places[self.places["type"] == "城中村"]
        place = villages.iloc[int(self.rng.integers(len(villages)))]
        d = np.hypot(self.gx - place["x"], self.gy - place["y"])
        return self.city.grids["area_id"].to_numpy()[d < 1200].astype(str), place

    def plan_outbreaks(self, k, key_grids, n, weekly) -> pd.DataFrame:
        """Choose areas, categories, weeks and sizes of the injected outbreaks."""
        grids = self.city.grids
        p = self.places
        dmin = np.min(np.hypot(self.gx[:, None] - p["x"].to_numpy(), self.gy[:, None] - p["y"].to_numpy()), axis=1)
        calm = dmin > 1500  # away from hot places, so the baseline is the smooth background
        cats = ["入室盗窃", "盗窃电动车", "扒窃", "抢夺", "电信网络诈骗", "故意伤害", "寻衅滋事", "抢劫"]
        first = min(max(30, self.weeks // 3), self.weeks - 9)  # leave history before most outbreaks
        rows, used = [], set()
        for i in range(k):  # a dozen outbreaks: a loop over plans, not incidents
            level = "community" if i % 3 == 2 else "grid"
            cand = grids["area_id"].to_numpy()[calm] if level == "grid" else np.unique(grids["parent_id"].to_numpy()[calm])
            area = str(self.rng.choice([a for a in cand if a not in used and a[: len(a) - 4] not in used]))
            used.add(area)
            cat = cats[i % len(cats)]
            n_weeks = int(self.rng.integers(2, 7)) if i < k - 3 else int(self.rng.integers(2, 5))
            # the last three are still running in the final week: the board shows them now
            start_w = self.weeks - n_weeks if i >= k - 3 else int(self.rng.integers(first, self.weeks - 8))
            rows.append((f"O{i + 1:02d}", area, level, cat, start_w, n_weeks))
        ob = pd.DataFrame(rows, columns=["outbreak_id", "area_id", "level", "category", "start_week", "weeks"])
        # expected background per week in the area, to size the excess well above it
        share = {c: s.share * (1 - s.place_share) for c, s in CATEGORY_SPECS.items()}
        base = []
        for r in ob.itertuples():
            m = (grids["area_id"] == r.area_id) | (grids["parent_id"] == r.area_id)
            s = self.pop * np.exp(CATEGORY_SPECS[r.category].beta * self.city.field)
            ci = list(CATEGORY_SPECS).index(r.category)
            wk = weekly[ci, r.start_week : r.start_week + r.weeks].mean()
            base.append(n * share[r.category] * s[m.to_numpy()].sum() / s.sum() * wk)
        ob["baseline_per_week"] = np.round(base, 3)
        floor = np.where(ob["level"] == "grid", 4, 6)
        ob["excess_per_week"] = np.maximum(floor, np.ceil(ob["baseline_per_week"] + 3 * np.sqrt(ob["baseline_per_week"] + 1))).astype("int64")
        return ob

    def outbreak_events(self, ob: pd.DataFrame, daily) -> tuple[pd.DataFrame, pd.DataFrame]:
        grids = self.city.grids
        ids = grids["area_id"].to_numpy()
        par = grids["parent_id"].to_numpy()
        cats = list(CATEGORY_SPECS)
        gi_all, wk_all, ci_all, ob_all = [], [], [], []
        for j, r in enumerate(ob.itertuples()):
            members = np.flatnonzero((ids == r.area_id) | (par == r.area_id))
            total = r.excess_per_week * r.weeks
            gi_all.append(self.rng.choice(members, total, p=self.area[members] / self.area[members].sum()))
            wk_all.append(np.repeat(np.arange(r.start_week, r.start_week + r.weeks), r.excess_per_week))
            ci_all.append(np.full(total, cats.index(r.category)))
            ob_all.append(np.full(total, j))
        gi, wk, ci = np.concatenate(gi_all), np.concatenate(wk_all), np.concatenate(ci_all)
        x, y = self.uniform_in_grids(gi)
        t = self._when(ci, wk, daily)
        ev = _frame(ci, t, x, y, "outbreak")
        ob = ob.copy()
        ob["start"] = [pd.Timestamp(self.start + dt.timedelta(weeks=int(w))) for w in ob["start_week"]]
        ob["injected"] = np.bincount(np.concatenate(ob_all), minlength=len(ob)).astype("int64")
        cols = ["outbreak_id", "area_id", "level", "category", "start", "weeks", "excess_per_week", "baseline_per_week", "injected"]
        return ob[cols], ev

    def near_repeats(self, parents: pd.DataFrame, eta: float) -> pd.DataFrame:
        """Hawkes offspring of burglaries, generation by generation (within 200 m, 1–13 days)."""
        ci = list(CATEGORY_SPECS).index("入室盗窃")
        end_min = self.weeks * 7 * 1440
        out = []
        px, py, pt = parents["x"].to_numpy(), parents["y"].to_numpy(), parents["t"].to_numpy()
        while len(px):
            k = self.rng.poisson(eta, len(px))
            px, py, pt = np.repeat(px, k), np.repeat(py, k), np.repeat(pt, k)
            m = len(px)
            tau, dmax = 3.0, 13.0  # days: exponential delay, truncated
            days = np.ceil(-tau * np.log(1 - self.rng.random(m) * (1 - np.exp(-dmax / tau)))).astype(int)
            sig, rmax = 70.0, 195.0  # metres: Rayleigh distance, truncated
            r = sig * np.sqrt(-2 * np.log(1 - self.rng.random(m) * (1 - np.exp(-(rmax**2) / (2 * sig**2)))))
            a = self.rng.uniform(0, 2 * np.pi, m)
            x, y = px + r * np.cos(a), py + r * np.sin(a)
            hour = (self.rng.random(m)[:, None] > self.hour_cum[ci]).sum(1)
            t = (pt // 1440 + days) * 1440 + hour * 60 + self.rng.integers(0, 60, m)
            ok = (t < end_min) & shapely.contains_xy(self.city.boundary, x, y)
            px, py, pt = x[ok], y[ok], t[ok]
            out.append(_frame(ci, pt, px, py, "near_repeat"))
        return pd.concat(out, ignore_index=True)

    def finish(self, ev: pd.DataFrame) -> pd.DataFrame:
        """Sort by time, give 警情编号 ids, subtypes, times and WGS84 coordinates."""
        ev = ev.sort_values(["t", "x"], kind="stable").reset_index(drop=True)
        cats = np.asarray(list(CATEGORY_SPECS), dtype=object)
        at = pd.Timestamp(self.start) + pd.to_timedelta(ev["t"].to_numpy(), unit="min")
        day = at.strftime("%Y%m%d")
        seq = pd.Series(np.ones(len(ev), int)).groupby(np.asarray(day)).cumsum().to_numpy()
        ids = "JQ" + pd.Series(day, dtype=str) + pd.Series(seq).map("{:05d}".format)
        cat = cats[ev["ci"].to_numpy()]
        sub = np.full(len(ev), None, dtype=object)
        for c, s in CATEGORY_SPECS.items():
            if s.subtypes:
                m = cat == c
                names, p = zip(*s.subtypes)
                sub[m] = self.rng.choice(np.asarray(names, dtype=object), m.sum(), p=np.asarray(p) / sum(p))
        lon, lat = Transformer.from_crs(DEMO_CRS, 4326, always_xy=True).transform(ev["x"].to_numpy(), ev["y"].to_numpy())
        return pd.DataFrame(
            {
                "incident_id": ids.to_numpy(),
                "occurred_at": np.asarray(at, dtype="datetime64[s]"),
                "category": cat.astype(str),
                "subtype": sub,
                "x": ev["x"].to_numpy(),
                "y": ev["y"].to_numpy(),
                "lon": np.round(lon, 6),
                "lat": np.round(lat, 6),
                "origin": ev["origin"].to_numpy(),
            }
        )


def _frame(ci, t, x, y, origin) -> pd.DataFrame:
    ci = np.broadcast_to(np.asarray(ci), np.shape(t))
    return pd.DataFrame({"ci": ci, "t": np.asarray(t, dtype=np.int64), "x": x, "y": y, "origin": origin})


def _hour_profile(peaks, hours: np.ndarray) -> np.ndarray:
    w = np.full(len(hours), 0.15)
    for peak, width, weight in peaks:
        d = np.abs(hours + 0.5 - peak)
        d = np.minimum(d, 24 - d)
        w += weight * np.exp(-(d**2) / (2 * width**2))
    return w


def _nearest_sf(day: dt.date) -> dt.date:
    cands = [SPRING_FESTIVAL.get(day.year + k) for k in (-1, 0, 1)]
    return min((c for c in cands if c is not None), key=lambda c: abs((day - c).days))
