"""A stacked ensemble: a mixture of member forecasts, its weights learned by rolling origin.

Members are registry models (:data:`analytics.models.MODELS`, e.g. the long-run mean, EWMA,
empirical Bayes, the kernel-smoothed baselines). Inside the training window only, each of the
last ``validation`` periods ``v`` is forecast by every member fitted on the periods before
``v``; the weights ``w`` (non-negative, summing to one) maximise the mixture's mean log score
over those cell-periods::

    max_w  sum_{i,v} log sum_k w_k P_k(y_iv)       (P_k the member's NB2/Poisson pmf)

by the EM algorithm for mixture proportions (each step ``w_k <- mean_iv r_ikv``, ``r`` the
members' posterior responsibilities), which keeps ``w`` on the simplex and never lowers the
objective. Each member is then refitted on the whole window.

Predictive distribution: the mixture ``sum_k w_k NB(mu_k, alpha_k)`` is moment-matched by one
NB2 — mean ``mu = sum_k w_k mu_k``, variance ``sum_k w_k (mu_k + alpha_k mu_k^2 + mu_k^2) -
mu^2``, so ``alpha = max(var - mu, 0) / mu^2`` (the mixture's spread between members counts as
dispersion). A member that cannot be fitted at some validation origin (too little history)
gets weight 0.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import weakref
from collections import OrderedDict

import numpy as np
import pandas as pd

from analytics.distributions import logpmf
from analytics.models.base import CountModel
from analytics.models.kde import _blas, keys_digest
from data.cube import CountMatrix

__all__ = ["StackedEnsemble", "mixture_weights", "moment_match", "one_step_forecast"]

#: Members of the default stack: fast, and different in how far back and how wide they look.
DEFAULT_MEMBERS: tuple[str, ...] = ("longrun", "ewma", "eb", "kde_longrun", "recency_kde")


def mixture_weights(logp: np.ndarray, *, max_iter: int = 300, tol: float = 1e-9) -> np.ndarray:
    """Mixture proportions maximising ``mean log sum_k w_k exp(logp[k])`` (EM).

    Parameters
    ----------
    logp : (n_members, n_obs) array
        Each member's log predictive probability of each observation (``-inf`` allowed).

    Returns
    -------
    ndarray (n_members,)
        Non-negative weights summing to one (uniform over members when ``n_obs == 0``).
    """
    logp = np.asarray(logp, float)
    K = logp.shape[0]
    if K == 0:
        raise ValueError("logp: need at least one member")
    w = np.full(K, 1.0 / K)
    if logp.shape[1] == 0:
        return w
    top = logp.max(0)
    ok = np.isfinite(top)  # an observation every member calls impossible carries no information
    P = np.exp(logp[:, ok] - top[ok])
    n = P.shape[1]
    prev = -np.inf
    # two matrix-vector products per iteration: BLAS threads only spin on a shared 2-core
    # machine (10x slower at 130,000 observations), so one thread
    with _blas().limit(limits=1, user_api="blas"):
        for _ in range(max_iter):
            mix = w @ P
            obj = float(np.log(mix).sum() / n)
            w = w * (P @ (1.0 / mix)) / n
            w = w / w.sum()
            if obj - prev < tol:
                break
            prev = obj
    return w


def moment_match(weights: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NB2 ``(mu, alpha)`` with the mean and variance of the mixture of members' NB2s.

    ``weights`` (K,), ``mu`` and ``alpha`` (K, ...) arrays; returns arrays of the trailing shape.
    """
    w = np.asarray(weights, float).reshape((-1,) + (1,) * (np.ndim(mu) - 1))
    mu = np.asarray(mu, float)
    alpha = np.asarray(alpha, float)
    m = (w * mu).sum(0)
    second = (w * (mu + alpha * mu**2 + mu**2)).sum(0)
    var = second - m**2
    a = np.divide(np.maximum(var - m, 0.0), m**2, out=np.zeros_like(m), where=m > 1e-12)
    return m, a


class StackedEnsemble(CountModel):
    """Mixture of registry models with weights learned by rolling origin inside the window.

    Parameters
    ----------
    members : tuple of str
        Registry names of the members.
    neighbours, parent, coords
        Spatial context passed to every member (:func:`analytics.models.make_model`).
    validation : int
        Last training periods each forecast by every member from the periods before it (the
        weights' data). The window must hold at least ``validation + 2`` periods; with fewer,
        fewer validation periods are used.

    Attributes
    ----------
    weights_ : pandas.Series
        Weight of each member (index: member names), >= 0, summing to 1.
    member_scores_ : pandas.Series
        Each member's own mean log score over the validation cell-periods (lower is better);
        NaN for a member that could not be fitted.
    members_ : dict
        The members refitted on the whole window (those with a positive weight).
    """

    handles_missing = True

    def __init__(self, *, members: tuple[str, ...] = DEFAULT_MEMBERS, neighbours=None,
                 parent=None, coords: pd.DataFrame | None = None, validation: int = 6) -> None:
        self.members = members
        self.neighbours = neighbours
        self.parent = parent
        self.coords = coords
        self.validation = validation

    def _make(self, name: str) -> CountModel:
        from analytics.models import make_model  # the registry imports this module

        return make_model(name, neighbours=self.neighbours, parent=self.parent, coords=self.coords)

    def _fit_matrix(self, Y: np.ndarray) -> None:
        names = list(dict.fromkeys(self.members))
        if not names:
            raise ValueError("members: the stack needs at least one member")
        if "stack" in names or "auto" in names:
            raise ValueError(f"members: {names!r} may not contain the stack itself")
        from analytics.models import MODELS

        unknown = [n for n in names if n not in MODELS]
        if unknown:
            raise ValueError(f"members: {unknown[0]!r} unknown; choose from {', '.join(MODELS)}")
        T = Y.shape[1]
        V = int(max(0, min(self.validation, T - 2)))
        context = _context(self.neighbours, self.parent, self.coords)
        keys, periods, freq = self.keys_, self.periods_, self.freq_
        head_keys = _prefix_keys(keys, periods, Y, freq, [*range(T - V, T), T])
        n = len(keys)
        logp = np.full((len(names), n * V), -np.inf)
        usable = np.ones(len(names), bool)
        for j, v in enumerate(range(T - V, T)):  # a few validation origins
            head = CountMatrix(keys, periods[:v], Y[:, :v], freq)
            y = Y[:, v]
            y0 = np.nan_to_num(y, nan=0.0)
            for k, name in enumerate(names):
                if not usable[k]:
                    continue
                try:
                    mu, alpha = _one_step(name, head, context, self._make, key=head_keys[j])
                except ValueError:  # too little history for this member at this origin
                    usable[k] = False
                    continue
                lp = logpmf(y0, mu[:, 0], alpha[:, 0])
                logp[k, j * n:(j + 1) * n] = np.where(np.isfinite(y), lp, np.nan)
        seen = np.isfinite(Y[:, T - V:T].T.ravel()) if V else np.zeros(0, bool)
        lp = logp[:, seen]
        scores = np.where(usable, -np.nanmean(lp, axis=1) if lp.shape[1] else np.nan, np.nan)
        w = np.zeros(len(names))
        if usable.any():
            w[usable] = mixture_weights(lp[usable])
        self.weights_ = pd.Series(w, index=names, name="weight")
        self.member_scores_ = pd.Series(scores, index=names, name="log_score")
        self.members_ = {}
        full = CountMatrix(keys, periods, Y, freq)
        for name in names:
            if self.weights_[name] > 0:
                self.members_[name] = self._make(name).fit(full)
                _remember((name, context, head_keys[-1]),
                          self.members_[name].predict(1, as_arrays=True))

    def _predict_matrix(self, horizon):
        names = list(self.members_)
        arrays = [self.members_[n].predict(horizon, as_arrays=True) for n in names]
        mu = np.stack([a[0] for a in arrays])
        alpha = np.stack([a[1] for a in arrays])
        w = self.weights_[names].to_numpy()
        return moment_match(w / w.sum(), mu, alpha)



_MEMO: OrderedDict = OrderedDict()
_MEMO_LOCK = threading.Lock()
#: Member forecasts kept (each two arrays of n_series floats).
_MEMO_SIZE = 128


def _matrix_key(m: CountMatrix) -> str:
    """Content key of a count matrix (the memo's data part): the last of its prefix keys."""
    return _prefix_keys(m.keys, m.periods, m.Y, m.freq, [m.Y.shape[1]])[0]


def _prefix_keys(keys: pd.DataFrame, periods: pd.DatetimeIndex, Y: np.ndarray, freq: str,
                 lengths) -> list[str]:
    """Content keys of the heads ``Y[:, :v]`` for each ``v`` in ``lengths`` (one pass over ``Y``).

    A chain ``h_v = H(h_(v-1), period_(v-1), column_(v-1))`` started from the series keys and
    the frequency: a head's key depends on its content only, so the stack's validation heads
    and the next origin's (or ``auto``'s) share memo entries, and every head of one matrix
    costs one hash of each column instead of one hash of every head.
    """
    want = sorted(set(int(v) for v in lengths))
    out: dict[int, str] = {}
    h = hashlib.blake2b(digest_size=16)
    h.update(keys_digest(keys).encode())
    h.update(str(freq).encode())
    digest = h.digest()
    stamps = pd.DatetimeIndex(periods).asi8
    cols = np.ascontiguousarray(np.asarray(Y, float)[:, : want[-1] if want else 0].T)
    for v in range(0, (want[-1] if want else 0) + 1):
        if v in want or v == 0:
            out[v] = digest.hex()
        if v < cols.shape[0]:
            h = hashlib.blake2b(digest, digest_size=16)
            h.update(int(stamps[v]).to_bytes(8, "little", signed=True))
            h.update(cols[v].tobytes())
            digest = h.digest()
    return [out[int(v)] for v in lengths]


def _recall(key):
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            _MEMO.move_to_end(key)
        return hit


def _remember(key, value) -> None:
    mu, alpha = (np.array(a, copy=True) for a in value)
    with _MEMO_LOCK:
        _MEMO[key] = (mu, alpha)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)


def one_step_forecast(name: str, m: CountMatrix, *, neighbours=None, parent=None,
                      coords=None) -> tuple[np.ndarray, np.ndarray]:
    """``make_model(name, …).fit(m).predict(1, as_arrays=True)``, shared with the stack's memo.

    A rolling origin over consecutive periods (``auto``'s backtest) then fits each member once
    per origin, whether it is scored alone or inside the stack.
    """
    from analytics.models import make_model

    def make(n):
        return make_model(n, neighbours=neighbours, parent=parent, coords=coords)

    return _one_step(name, m, _context(neighbours, parent, coords), make)


def _context(neighbours, parent, coords) -> str:
    """A digest of the spatial context (members' forecasts depend on it), memoised per set of
    context objects (a rolling origin passes the same ones to every fit)."""
    ids = (id(neighbours), id(parent), id(coords))
    refs = _CONTEXTS.get(ids)
    if refs is not None and all(r is None or r() is o for r, o in zip(refs[0], (neighbours, parent, coords))):
        return refs[1]
    xy = None if coords is None else coords[["area_id", "x", "y"]].to_numpy()
    blob = pickle.dumps((parent, neighbours, xy), protocol=4)
    digest = hashlib.blake2b(blob, digest_size=16).hexdigest()
    try:
        wrefs = tuple(None if o is None else weakref.ref(o) for o in (neighbours, parent, coords))
    except TypeError:  # a plain dict has no weak reference: digest it every time
        return digest
    with _MEMO_LOCK:
        if len(_CONTEXTS) > 32:
            _CONTEXTS.clear()
        _CONTEXTS[ids] = (wrefs, digest)
    return digest


_CONTEXTS: dict = {}


def _one_step(name: str, head: CountMatrix, context: str, make, *, key: str | None = None):
    """A member's one-step forecast from ``head``, memoised: in a rolling origin the stack at the
    next origin validates on the forecasts this one made (6x fewer fits). ``key``: the head's
    content key when the caller has it (:func:`_prefix_keys`)."""
    key = (name, context, _matrix_key(head) if key is None else key)
    hit = _recall(key)
    if hit is not None:
        return hit
    out = make(name).fit(head).predict(1, as_arrays=True)
    _remember(key, out)
    return out
