"""Finding and creating athletes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Athlete

DEFAULT_HANDLE = "me"


class AthleteNotFoundError(LookupError):
    """The named athlete does not exist, or several exist and none was named."""


def resolve_athlete(session: Session, handle: str | None, *, create: bool) -> Athlete:
    """The athlete a command acts on.

    Named: that one (created on request). Unnamed: the only athlete if there is exactly one,
    a new ``me`` if there are none and ``create`` is set; with several, the caller must choose.
    """
    if handle is not None:
        athlete = session.scalar(select(Athlete).where(Athlete.handle == handle))
        if athlete is None:
            if not create:
                raise AthleteNotFoundError(f"no athlete named {handle!r}")
            athlete = Athlete(handle=handle, display_name=handle)
            session.add(athlete)
            session.flush()
        return athlete
    count: int = session.scalar(select(func.count()).select_from(Athlete)) or 0
    if count == 1:
        return session.scalars(select(Athlete)).one()
    if count == 0:
        if not create:
            raise AthleteNotFoundError(
                "no athlete yet: import some files or run `strideguard demo`"
            )
        return resolve_athlete(session, DEFAULT_HANDLE, create=True)
    handles = ", ".join(session.scalars(select(Athlete.handle).order_by(Athlete.handle)))
    raise AthleteNotFoundError(f"several athletes ({handles}): choose one with --athlete")
