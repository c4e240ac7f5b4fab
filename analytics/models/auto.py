"""``auto``: choose the forecasting model of a count matrix by a backtest of its last year.

Each candidate (:data:`CANDIDATES`: empirical Bayes, the multi-scale kernel blend, the stack,
the kernel-smoothed baselines and the GLM) forecasts each of the last ``test_periods`` periods (52 weeks, 12 months …),
one step ahead from a fit on the periods before it —
the rolling origin of :mod:`analytics.backtest`, so nothing after a test period is seen. The
winner has the lowest mean **log score** ``-log P(y)`` over the cells × test periods: the
board's colours are tail probabilities of the predictive distribution, and the log score is
the proper score that punishes a model for calling an observed count unlikely. CRPS and
PAI@5 % are reported beside it.

The service (:mod:`analytics.service.board`) runs this once per workspace version, layer,
frequency and category and says which model it chose and why.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.distributions import crps, logpmf
from data.calendar import season_length
from data.cube import CountMatrix

__all__ = ["AUTO", "CANDIDATES", "select_model"]

#: The registry name that asks for the automatic choice.
AUTO = "auto"
#: Models ``auto`` chooses from, in order of preference on a tie.
CANDIDATES: tuple[str, ...] = ("eb", "blend", "stack", "recency_kde", "kde_longrun", "glm")


def select_model(m: CountMatrix, *, candidates: Sequence[str] = CANDIDATES,
                 test_periods: int | None = None, origins: int | None = None, neighbours=None,
                 parent=None, coords=None, min_history: int = 8, related=None) -> dict:
    """The candidate with the best log score over the last ``test_periods`` of ``m``.

    Parameters
    ----------
    m : CountMatrix
        Counts (gaps already imputed); the backtest's test periods are its last periods.
    candidates : sequence of str
        Registry names (:data:`analytics.models.MODELS`).
    test_periods : int, optional
        Periods the test origins are spread over (default one year: 52 weeks, 12 months,
        364 days), fewer when the history is short.
    origins : int, optional
        Test periods actually forecast, evenly spaced (default: every period of the span —
        consecutive origins let the stack and its members share their fits).
    neighbours, parent, coords, related
        Spatial context and the other categories' counts for :func:`analytics.models.make_model`
        (``related``: the models that learn from them are fitted with them, as the board fits
        them).
    min_history : int
        Periods every fit keeps before the first test period.

    Returns
    -------
    dict
        ``model`` (the winner; the first candidate when there is too little history to test),
        ``scores`` ``{name: {"log_score", "crps", "pai_05"}}`` (failed candidates omitted),
        ``test_periods`` (the span the origins cover), ``origins`` (test periods forecast).
    """
    from analytics.backtest import hit_rates
    from analytics.models import MODELS, make_model
    from analytics.models.stack import one_step_forecast

    names = list(dict.fromkeys(candidates))
    bad = [n for n in names if n not in MODELS]
    if not names or bad:
        raise ValueError(f"candidates: {bad[0] if bad else 'none'!r} unknown; choose from "
                         f"{', '.join(MODELS)}")
    T = len(m.periods)
    span = int(test_periods or season_length(m.freq))
    span = max(0, min(span, T - min_history))
    n_orig = max(0, min(int(origins or span), span))
    if n_orig == 0:
        return {"model": names[0], "scores": {}, "test_periods": 0, "origins": 0}
    js = np.unique(np.round(np.linspace(T - span, T - 1, n_orig)).astype(int))
    obs = m.Y[:, js]
    ok = np.isfinite(obs)
    mu = {n: np.empty(obs.shape) for n in names}
    alpha = {n: np.empty(obs.shape) for n in names}
    alive = set(names)
    # origins outside, the stack first: its members' fits at an origin are then the single
    # candidates' fits too (one memo, analytics.models.stack.one_step_forecast)
    order = sorted(names, key=lambda n: n != "stack")
    for i, j in enumerate(js):  # up to a year of origins × a handful of candidates
        head = m.head(int(j))
        for name in order:
            if name not in alive:
                continue
            try:
                if name == "stack" or (related is not None and name == "blend"):
                    mu_i, alpha_i = make_model(name, neighbours=neighbours, parent=parent,
                                               coords=coords, related=related).fit(head).predict(
                        1, as_arrays=True)
                else:
                    mu_i, alpha_i = one_step_forecast(name, head, neighbours=neighbours,
                                                      parent=parent, coords=coords)
            except ValueError:  # e.g. too little history for this model: not a candidate here
                alive.discard(name)
                continue
            mu[name][:, i], alpha[name][:, i] = mu_i[:, 0], alpha_i[:, 0]
    y = np.where(ok, obs, 0.0)
    scores: dict[str, dict[str, float]] = {}
    for name in names:
        if name not in alive:
            continue
        scores[name] = {
            "log_score": float(np.mean(-logpmf(y, mu[name], alpha[name])[ok])),
            "crps": float(np.mean(crps(y, mu[name], alpha[name])[ok])),
            "pai_05": float(hit_rates(mu[name].T, y.T, shares=(0.05,))["pai"]["0.05"]),
        }
    if not scores:
        return {"model": names[0], "scores": {}, "test_periods": span, "origins": len(js)}
    finite = {n: s["log_score"] for n, s in scores.items() if np.isfinite(s["log_score"])}
    best = min(finite, key=lambda n: (finite[n], names.index(n))) if finite else next(iter(scores))
    return {"model": best, "scores": scores, "test_periods": span, "origins": len(js)}
