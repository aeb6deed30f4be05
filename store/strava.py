"""Tables of the Strava connector: links (encrypted tokens), rate budget, event queue."""

from __future__ import annotations
