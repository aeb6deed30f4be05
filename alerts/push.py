"""Push notifications through apprise (ntfy, Telegram, Slack, Discord, JSON webhook...).

The only module that imports apprise, so a change of library touches one file.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from alerts.email import SendError

with warnings.catch_warnings():
    # apprise's PGP helper imports `imghdr` (deprecated in 3.11) lazily, on the first push;
    # import it here once, quietly, so it cannot warn later from a dispatcher thread.
    warnings.simplefilter("ignore", DeprecationWarning)
    import apprise
    import apprise.utils.pgp


def validate_urls(urls: Sequence[str]) -> list[str]:
    """The URLs apprise does not understand (empty when all are fine)."""
    bad = []
    for url in urls:
        if not apprise.Apprise().add(url):
            bad.append(url)
    return bad


def send_push(urls: Sequence[str], *, title: str, body: str, timeout_s: float = 20.0) -> None:
    """Notify every URL; SendError unless all accepted it."""
    if not urls:
        raise SendError("no push URL configured", permanent=True)
    client = apprise.Apprise()
    for url in urls:
        if not client.add(url):
            raise SendError(
                f"not a push URL apprise understands: {url.split(':', 1)[0]}://...", permanent=True
            )
    result = client.notify(body=body, title=title, timeout=timeout_s)
    if not result:
        raise SendError(f"push not accepted ({result.status.name.lower()})")
