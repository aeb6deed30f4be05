"""Tables of the alerts: notification settings and the delivery ledger."""

from __future__ import annotations
