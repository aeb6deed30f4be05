"""Tables of the web app: user accounts, sessions and API tokens."""

from __future__ import annotations
