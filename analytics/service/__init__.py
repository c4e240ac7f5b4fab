"""The service façade: the only code that takes a Workspace (design.md, "One entrance").

The app's pages, the command line and the briefing read a workspace through
:class:`Service` — one user's view of one workspace, cached by workspace version and cut to the
user's area scope — or, for whole-city work, through the modules below it:

- :mod:`~analytics.service.board` — periods, the four-colour table, KPIs, trends;
- :mod:`~analytics.service.maps` — area layers as WGS84 GeoJSON and tables;
- :mod:`~analytics.service.hotspots` — Gi*, Moran, emerging, KDE, Knox on a workspace;
- :mod:`~analytics.service.incidents` — the incident frame, its filters, CompStat windows;
- :mod:`~analytics.service.evaluation` — the workspace's cached backtest;
- :mod:`~analytics.service.cache`, :mod:`~analytics.service.scope`,
  :mod:`~analytics.service.downloads` — the one cache, the user's scope, opaque download ids.

Statistics below (``analytics.models``, ``analytics.warning``, ``analytics.hotspots`` …) are
pure functions of arrays and frames and never see a workspace.
"""

from analytics.service.facade import ScopeError, Service

__all__ = ["Service", "ScopeError"]
