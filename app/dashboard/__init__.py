"""The dashboard's data: recent panes per scope in bounded rings, filled from Kafka by the
``api`` role, reduced onto time grids for the graphs (the page itself is in app/api/static)."""

from app.dashboard.feed import DashboardFeed
from app.dashboard.firing import FiringLog
from app.dashboard.ring import PaneRing
from app.dashboard.view import Dashboard, not_found

__all__ = ["Dashboard", "DashboardFeed", "FiringLog", "PaneRing", "not_found"]
