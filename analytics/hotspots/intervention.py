"""整治 (intervention) evaluation: difference-in-differences count model and displacement (WDQ).

**Difference-in-differences.** On a panel of counts per area and period, a Poisson (or
negative-binomial) GLM with area and period fixed effects and the ``treated × post`` indicator::

    log E[y_it] = a_i + g_t + beta · treated_i · post_t

gives the rate ratio ``exp(beta)``: the change in the target areas beyond the change the
comparison areas saw. Standard errors are **clustered by area** by default (``cov="cluster"``:
the sandwich over areas, as statsmodels ``cov_type="cluster"`` with its small-sample factor
``G/(G-1) (N-1)/(N-K)``): an area's weeks are not independent — a busy street stays busy —
and treating them as independent gives intervals far too narrow. ``cov="model"`` gives the
quasi-Poisson (Pearson-scaled) errors. ``family="nb"`` fits an NB2 model with its dispersion
estimated (statsmodels ``NegativeBinomial``).

With one or a few target areas even clustered errors are unreliable (the treated cluster's
own noise is the effect's noise), so :func:`did_permutation` adds a placebo check: the same
estimate with the treatment moved to other areas (all choices when there are few, else a
seeded sample); its p-value is the share of placebo effects at least as large as the real one.

**Weighted displacement quotient** (Bowers & Johnson 2003), with ``A`` the target area, ``B``
the buffer (catchment) ring around it and ``C`` the control area, ``b`` before and ``a``
after::

    WDQ = (B_a/C_a - B_b/C_b) / (A_a/C_a - A_b/C_b)

The denominator (the *success measure*) must be negative — the target improved relative to
the control — for the WDQ to mean anything. WDQ > 0 suggests diffusion of benefits into the
buffer, < 0 displacement; WDQ > 1 diffusion larger than the direct effect, < -1 displacement
larger than the direct effect (net harm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["DiDResult", "did_permutation", "did_rate_ratio", "weighted_displacement_quotient"]


@dataclass(frozen=True)
class DiDResult:
    """Rate ratio of the treated × post term with its confidence interval.

    ``se`` is the standard error the interval and ``p`` use (clustered by area unless
    ``cov="model"``); ``se_model`` the quasi-Poisson / NB model-based one, ``se_cluster`` the
    area-clustered one (NaN with fewer than two areas), ``cov`` which was used.
    """

    rate_ratio: float
    ci_low: float
    ci_high: float
    p: float
    beta: float
    se: float
    family: str
    n_obs: int
    n_treated_areas: int
    n_control_areas: int
    dispersion: float
    cov: str = "cluster"
    se_model: float = float("nan")
    se_cluster: float = float("nan")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def did_rate_ratio(
    panel: pd.DataFrame,
    *,
    treated: str = "treated",
    post: str = "post",
    count: str = "count",
    area: str = "area_id",
    period: str = "period",
    family: str = "poisson",
    level: float = 0.95,
    cov: str = "cluster",
) -> DiDResult:
    """Difference-in-differences rate ratio with area and period fixed effects.

    Parameters
    ----------
    panel : DataFrame
        One row per area × period with the count, a per-area ``treated`` flag and a
        per-period ``post`` flag.
    family : {"poisson", "nb"}
        Quasi-Poisson (Pearson-scaled) or NB2 with estimated dispersion.
    level : float
        Confidence level of the interval.
    cov : {"cluster", "model"}
        Standard errors clustered by area (default) or model-based.

    Returns
    -------
    DiDResult
    """

    for col in (treated, post, count, area, period):
        if col not in panel.columns:
            raise ValueError(f"panel has no column {col!r}")
    if family not in ("poisson", "nb"):
        raise ValueError(f"family must be 'poisson' or 'nb', not {family!r}")
    if cov not in ("cluster", "model"):
        raise ValueError(f"cov must be 'cluster' or 'model', not {cov!r}")
    df = panel[[area, period, count, treated, post]].dropna()
    tr = df[treated].astype(bool).to_numpy()
    po = df[post].astype(bool).to_numpy()
    if tr.all() or not tr.any():
        raise ValueError("need both treated and comparison areas in the panel")
    if po.all() or not po.any():
        raise ValueError("need periods both before and after the start")
    y = df[count].to_numpy(dtype=float)
    area_codes = pd.factorize(df[area])[0]
    period_codes = pd.factorize(df[period], sort=True)[0]
    d = tr & po
    if family == "poisson":
        beta, se_model, se_cluster, disp = _poisson_twoway(y, area_codes, period_codes, d)
    else:
        beta, se_model, se_cluster, disp = _nb_dummies(y, area_codes, period_codes, d)
    se = se_cluster if cov == "cluster" else se_model
    zcrit = stats.norm.ppf(0.5 + level / 2)
    p = float(2 * stats.norm.sf(abs(beta / se))) if se > 0 else float("nan")
    return DiDResult(
        rate_ratio=float(np.exp(beta)),
        ci_low=float(np.exp(beta - zcrit * se)),
        ci_high=float(np.exp(beta + zcrit * se)),
        p=p,
        beta=beta,
        se=se,
        family=family,
        n_obs=len(df),
        n_treated_areas=int(pd.Series(area_codes[tr]).nunique()),
        n_control_areas=int(pd.Series(area_codes[~tr]).nunique()),
        dispersion=disp,
        cov=cov,
        se_model=se_model,
        se_cluster=se_cluster,
    )


def did_permutation(
    panel: pd.DataFrame,
    *,
    n_permutations: int = 199,
    seed: int | None = 0,
    treated: str = "treated",
    post: str = "post",
    count: str = "count",
    area: str = "area_id",
    period: str = "period",
) -> dict:
    """Placebo (randomisation) check of the difference-in-differences effect.

    The treatment is given to other sets of areas of the same size — every such set when
    there are at most ``n_permutations`` of them, else a seeded random sample — and the
    quasi-Poisson effect re-estimated each time.

    Returns
    -------
    dict
        ``beta`` (the real effect), ``placebo_betas`` (array), ``p`` (two-sided: share of
        placebo sets, the real one included, with ``|beta| >=`` the real one), ``exact``
        (True when every set was tried) and ``n`` (number of sets).
    """
    from itertools import combinations
    from math import comb

    for col in (treated, post, count, area, period):
        if col not in panel.columns:
            raise ValueError(f"panel has no column {col!r}")
    df = panel[[area, period, count, treated, post]].dropna()
    area_codes, uniq = pd.factorize(df[area])
    period_codes = pd.factorize(df[period], sort=True)[0]
    y = df[count].to_numpy(dtype=float)
    po = df[post].astype(bool).to_numpy()
    is_t = np.zeros(len(uniq), bool)
    is_t[area_codes[df[treated].astype(bool).to_numpy()]] = True
    k, n = int(is_t.sum()), len(uniq)
    if k == 0 or k == n:
        raise ValueError("need both treated and comparison areas in the panel")
    real = tuple(np.flatnonzero(is_t))
    exact = comb(n, k) <= n_permutations + 1
    if exact:
        sets = [c for c in combinations(range(n), k) if c != real]
    else:
        rng = np.random.default_rng(seed)
        sets = [tuple(np.sort(rng.choice(n, k, replace=False))) for _ in range(n_permutations)]

    def effect(chosen) -> float:
        mask = np.zeros(n, bool)
        mask[list(chosen)] = True
        d = mask[area_codes] & po
        if y[d].sum() == 0:
            return -np.inf
        return _poisson_twoway(y, area_codes, period_codes, d, se=False)[0]

    beta = effect(real)
    betas = np.array([effect(c) for c in sets])  # one profile fit per placebo set
    p = (1 + int(np.sum(np.abs(betas) >= abs(beta) - 1e-12))) / (1 + len(betas))
    return {"beta": beta, "placebo_betas": betas, "p": float(p), "exact": bool(exact),
            "n": len(betas)}


def weighted_displacement_quotient(a_before, a_after, b_before, b_after, c_before, c_after) -> dict:
    """Bowers & Johnson (2003) weighted displacement quotient.

    Parameters
    ----------
    a_before, a_after : float
        Incidents in the target area before / after.
    b_before, b_after : float
        Incidents in the buffer ring.
    c_before, c_after : float
        Incidents in the control area (must be > 0).

    Returns
    -------
    dict
        ``success_measure`` (A_a/C_a − A_b/C_b), ``buffer_measure`` (B_a/C_a − B_b/C_b),
        ``wdq`` (NaN when the success measure is not negative) and ``reading``:
        ``no_effect``, ``diffusion_gt_effect``, ``diffusion``, ``no_displacement``,
        ``displacement``, ``displacement_gt_effect``.

    Examples
    --------
    >>> r = weighted_displacement_quotient(100, 60, 80, 70, 1000, 1000)
    >>> round(r["success_measure"], 3), round(r["buffer_measure"], 3), round(r["wdq"], 3)
    (-0.04, -0.01, 0.25)
    """
    if not (c_before > 0 and c_after > 0):
        raise ValueError("control area counts must be positive before and after")
    success = a_after / c_after - a_before / c_before
    buffer = b_after / c_after - b_before / c_before
    if success >= 0:
        return {"success_measure": success, "buffer_measure": buffer, "wdq": float("nan"),
                "reading": "no_effect"}
    wdq = buffer / success
    if wdq > 1:
        reading = "diffusion_gt_effect"
    elif wdq > 0:
        reading = "diffusion"
    elif wdq == 0:
        reading = "no_displacement"
    elif wdq >= -1:
        reading = "displacement"
    else:
        reading = "displacement_gt_effect"
    return {"success_measure": success, "buffer_measure": buffer, "wdq": wdq, "reading": reading}


def _poisson_twoway(y, ai, ti, d, se: bool = True) -> tuple[float, float, float, float]:
    """Quasi-Poisson two-way fixed-effects fit of the treatment effect, without dummies.

    Returns ``beta, se_model, se_cluster, scale``.

    The area and period effects are profiled out by iterative proportional fitting (the
    Poisson likelihood equations set fitted margins equal to observed margins), and the score
    of ``beta`` (observed − fitted count in treated-post cells) is solved with Brent's method.
    For the errors, ``r = d - d_hat`` is the treatment indicator with its ``mu``-weighted
    projection on the area and period effects removed (alternating weighted demeaning):
    ``info = sum mu r^2`` is the profile information (the beta block of the inverse Fisher
    information), each observation's influence on beta is ``r (y - mu) / info``, and the
    clustered variance sums those influences within areas (sandwich, statsmodels' factor).
    The model-based error is scaled by Pearson chi² / df as statsmodels' ``scale="X2"`` does.
    Memory and time are linear in the panel size, so a whole grid layer (thousands of areas)
    is fine.
    """
    from scipy.optimize import brentq

    n_a, n_t = int(ai.max()) + 1, int(ti.max()) + 1
    ya = np.bincount(ai, weights=y, minlength=n_a)
    yt = np.bincount(ti, weights=y, minlength=n_t)
    dmask = d.astype(bool)

    def fitted(beta: float) -> np.ndarray:
        e = np.where(dmask, np.exp(beta), 1.0)
        g = np.maximum(yt, 1e-300) / max(y.mean(), 1e-300)
        a = np.ones(n_a)
        for _ in range(500):
            a_new = ya / np.maximum(np.bincount(ai, weights=g[ti] * e, minlength=n_a), 1e-300)
            g_new = yt / np.maximum(np.bincount(ti, weights=a_new[ai] * e, minlength=n_t), 1e-300)
            done = np.allclose(a_new, a, rtol=1e-13, atol=0) and np.allclose(g_new, g, rtol=1e-13, atol=0)
            a, g = a_new, g_new
            if done:
                break
        return a[ai] * g[ti] * e

    def score(beta: float) -> float:
        return float((y[dmask] - fitted(beta)[dmask]).sum())

    if y[dmask].sum() == 0:
        raise ValueError("no incidents in the treated areas after the start: the rate ratio is 0")
    beta = brentq(score, -20.0, 20.0, xtol=1e-12)
    if not se:
        return float(beta), float("nan"), float("nan"), float("nan")
    mu = fitted(beta)
    r = _residualise(dmask.astype(float), mu, ai, ti, n_a, n_t)
    info = float((mu * r**2).sum())
    n, k = len(y), n_a + n_t
    scale = float(((y - mu) ** 2 / np.maximum(mu, 1e-300)).sum() / max(n - k, 1))
    se_model = float(np.sqrt(scale / info)) if info > 0 else float("nan")
    per_area = np.bincount(ai, weights=r * (y - mu), minlength=n_a)
    if n_a > 1 and n > k and info > 0:
        factor = n_a / (n_a - 1) * (n - 1) / (n - k)
        se_cluster = float(np.sqrt(factor * (per_area**2).sum()) / info)
    else:
        se_cluster = float("nan")
    return float(beta), se_model, se_cluster, scale


def _residualise(x, w, ai, ti, n_a, n_t, tol: float = 1e-12, max_iter: int = 10_000):
    """``x`` minus its ``w``-weighted least-squares fit on area and period dummies.

    Alternating weighted demeaning (the method of alternating projections, as in reghdfe).
    """
    wa = np.maximum(np.bincount(ai, weights=w, minlength=n_a), 1e-300)
    wt = np.maximum(np.bincount(ti, weights=w, minlength=n_t), 1e-300)
    r = x.copy()
    for _ in range(max_iter):
        r -= (np.bincount(ai, weights=w * r, minlength=n_a) / wa)[ai]
        step = (np.bincount(ti, weights=w * r, minlength=n_t) / wt)[ti]
        r -= step
        if np.abs(step).max() < tol:
            break
    return r


def _nb_dummies(y, ai, ti, d) -> tuple[float, float, float, float]:
    """NB2 with dummy fixed effects (statsmodels); for panels of at most a few hundred areas.

    Returns ``beta, se_model, se_cluster (by area), alpha``.
    """
    import statsmodels.api as sm

    k = int(ai.max()) + int(ti.max()) + 2
    if k > 600:
        raise ValueError(f"family='nb' with {k} fixed effects is too large; use family='poisson' "
                         "(quasi-Poisson) or fewer comparison areas")
    x = np.column_stack([np.ones(len(y)), d.astype(float), _dummies(ai), _dummies(ti)])
    pois = sm.GLM(y, x, family=sm.families.Poisson()).fit()
    nb = sm.NegativeBinomial(y, x, loglike_method="nb2")
    res = nb.fit(start_params=np.append(pois.params, 0.1), disp=0, maxiter=200, method="bfgs")
    se_cluster = float("nan")
    if int(ai.max()) + 1 > 1:
        cl = nb.fit(start_params=res.params, disp=0, maxiter=200, method="bfgs",
                    cov_type="cluster", cov_kwds={"groups": ai})
        se_cluster = float(cl.bse[1])
    return float(res.params[1]), float(res.bse[1]), se_cluster, float(res.params[-1])


def _dummies(codes: np.ndarray) -> np.ndarray:
    """Treatment-coded dummies (first level dropped) as a dense float matrix."""
    k = int(codes.max()) + 1 if len(codes) else 0
    out = np.zeros((len(codes), max(k - 1, 0)))
    sel = codes > 0
    out[np.flatnonzero(sel), codes[sel] - 1] = 1.0
    return out
