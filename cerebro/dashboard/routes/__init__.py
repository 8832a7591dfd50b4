"""The dashboard's ``/api`` routes, one ``APIRouter`` per topic.

``deps`` holds what they share (the records database, access checks, error mapping); the
other modules are the topics the OpenAPI page groups them by: ``experiments``, ``trials``,
``schedule``, ``analysis``, ``actions`` and ``meta``. ``ROUTERS`` lists them in the order
:func:`cerebro.dashboard.app.create_app` includes them.
"""

from __future__ import annotations

from cerebro.dashboard.routes import actions, analysis, experiments, meta, schedule, trials

ROUTERS = (experiments.router, schedule.router, trials.router, analysis.router,
           actions.router, meta.router)

__all__ = ["ROUTERS"]
