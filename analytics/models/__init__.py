"""Forecasting models and outbreak detectors sharing one estimator contract.

Every model is a scikit-learn estimator (``get_params``/``set_params``, ``sklearn.base.clone``)
that takes tidy dense counts or a :class:`data.cube.CountMatrix` in ``fit`` and returns the
predictive table from ``predict`` (or its ``(mu, alpha)`` arrays with ``as_arrays=True``; see
:mod:`analytics.models.base`). :data:`MODELS` names them for the CLI, the
backtest and the board; :func:`make_model` builds one, passing the spatial context
(``neighbours``, ``parent``, ``coords``) to the models that use it.
"""

from __future__ import annotations

from collections.abc import Callable

from analytics.models.base import PREDICTIVE_COLUMNS, CountModel
from analytics.models.baselines import EWMA, LastPeriod, LongRunMean, MeanLastK, SameLastYear
from analytics.models.blend import KernelBlend
from analytics.models.ears import EarsC2, PoissonCUSUM
from analytics.models.farrington import Farrington
from analytics.models.glm import CountGLM
from analytics.models.kde import KDELongRun, RecencyKDE
from analytics.models.pooled import PooledGBM, neighbour_mapping
from analytics.models.sepp import GridSEPP
from analytics.models.shrinkage import EmpiricalBayes
from analytics.models.stack import StackedEnsemble

__all__ = [
    "BASELINES",
    "DETECTORS",
    "MODELS",
    "PREDICTIVE_COLUMNS",
    "CountGLM",
    "CountModel",
    "EWMA",
    "EarsC2",
    "EmpiricalBayes",
    "Farrington",
    "GridSEPP",
    "KDELongRun",
    "KernelBlend",
    "LastPeriod",
    "LongRunMean",
    "MeanLastK",
    "PoissonCUSUM",
    "PooledGBM",
    "RecencyKDE",
    "SameLastYear",
    "StackedEnsemble",
    "make_model",
    "neighbour_mapping",
]

#: name -> factory(neighbours=None, parent=None, coords=None, static=None, related=None) -> unfitted
#: model
MODELS: dict[str, Callable[..., CountModel]] = {
    "last": lambda **_: LastPeriod(),
    "mean4": lambda **_: MeanLastK(k=4),
    "mean15": lambda **_: MeanLastK(k=15),
    "lastyear": lambda **_: SameLastYear(),
    "longrun": lambda **_: LongRunMean(),
    "ewma": lambda **_: EWMA(halflife=4.0),
    "kde_longrun": lambda coords=None, **_: KDELongRun(coords=coords),
    "recency_kde": lambda coords=None, **_: RecencyKDE(coords=coords),
    "glm": lambda **_: CountGLM(family="nb"),
    "eb": lambda parent=None, **_: EmpiricalBayes(parent=parent),
    "gbm": lambda neighbours=None, static=None, **_: PooledGBM(neighbours=neighbours, static=static),
    "sepp": lambda coords=None, **_: GridSEPP(coords=coords),
    "blend": lambda coords=None, related=None, **_: KernelBlend(coords=coords, related=related),
    "stack": lambda neighbours=None, parent=None, coords=None, **_: StackedEnsemble(
        neighbours=neighbours, parent=parent, coords=coords),
    "farrington": lambda **_: Farrington(),
    "ears_c2": lambda **_: EarsC2(),
    "cusum": lambda **_: PoissonCUSUM(),
}

#: The counting baselines and the kernel-smoothed ones every model is measured against.
BASELINES: tuple[str, ...] = ("last", "mean4", "mean15", "lastyear", "longrun", "ewma",
                              "kde_longrun", "recency_kde")
DETECTORS: tuple[str, ...] = ("farrington", "ears_c2", "cusum")


def make_model(name: str, *, neighbours=None, parent=None, coords=None, static=None,
               related=None) -> CountModel:
    """A fresh, unfitted model by registry name.

    Parameters
    ----------
    name : str
        Registry name (:data:`MODELS`).
    neighbours : mapping area_id -> list of area_id, GeoDataFrame, or None
        Area adjacency (pooled models' spatial lags).
    parent : mapping area_id -> parent area_id, or None
        Hierarchy (empirical Bayes shrinks toward the parent).
    coords : DataFrame or None
        ``area_id, x, y``: each area's (cell's) centroid in metres, in a projected CRS (the
        distance kernels of point-process and smoothing models). Models that do not use a
        piece of context ignore it.
    static : DataFrame or None
        ``area_id`` + numeric columns that do not change over time: the risk-terrain features of
        :func:`analytics.rtm.risk_features` (the pooled ``gbm`` uses them; others ignore them).
    related : DataFrame or None
        The other categories' counts per area and period when the fit is one category's
        (:func:`analytics.models.blend.related_counts`; ``blend`` pools their long-run map with
        the category's own maps; others ignore them).

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`MODELS` (the message lists the known names).
    """
    if name not in MODELS:
        raise ValueError(f"model {name!r}: unknown; choose from {', '.join(MODELS)}")
    return MODELS[name](neighbours=neighbours, parent=parent, coords=coords, static=static,
                        related=related)
