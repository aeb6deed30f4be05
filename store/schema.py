"""Every table of the product, for Alembic: importing this registers all models on `Base`."""

from store import accounts, models, notifications, strava
from store.models import Base

__all__ = ["Base", "accounts", "models", "notifications", "strava"]
