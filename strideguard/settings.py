"""Runtime settings, read from ``STRIDEGUARD_*`` environment variables."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can configure; defaults give the embedded SQLite set-up."""

    model_config = SettingsConfigDict(env_prefix="STRIDEGUARD_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the database and raw files live."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file under data_dir."
    )
    max_file_mb: float = Field(default=50.0, gt=0, description="Largest single FIT file accepted.")
    import_workers: int = Field(
        default=0, ge=0, description="Decoder processes for imports; 0 = one per CPU core."
    )

    osm_extract: Path | None = Field(
        default=None,
        description="OSM extract (.osm, .osm.gz, .osm.bz2) for surfaces; default: data_dir/osm/*.",
    )
    overpass_url: str | None = Field(
        default=None, description="Overpass-compatible endpoint for surfaces (used if no extract)."
    )

    # -- web app ---------------------------------------------------------------------------
    secret_key: str | None = Field(
        default=None,
        description="Signs session cookies and links; default: a random key kept in "
        "data_dir/secret_key (created on first use).",
    )
    session_hours: float = Field(
        default=14 * 24, gt=0, description="How long a browser stays signed in, in hours."
    )
    max_upload_mb: float = Field(
        default=200.0, gt=0, description="Largest upload request (all files together)."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark cookies Secure (set when served over HTTPS behind a proxy).",
    )

    strava_client_id: int | None = Field(
        default=None, description="Strava API application id (strava.com/settings/api)."
    )
    strava_client_secret: str | None = Field(
        default=None, description="Strava API application secret."
    )
    strava_verify_token: str | None = Field(
        default=None, description="Secret echoed by Strava when the webhook is subscribed."
    )
    strava_token_keys: str | None = Field(
        default=None,
        description=(
            "Comma-separated Fernet keys for the Strava tokens at rest; the first encrypts, "
            "all decrypt (rotate: put a new key first, run `strideguard keys rotate`)."
        ),
    )
    strava_retention_days: int = Field(
        default=7, ge=0, description="Days raw Strava payloads are kept (Strava's terms)."
    )
    strava_fetch_streams: bool = Field(
        default=True,
        description="Fetch heart-rate streams from the spare request budget (one read each).",
    )
    strava_backfill_days: int = Field(
        default=90, ge=1, le=3650, description="Days of history fetched after linking Strava."
    )

    # -- alerts: e-mail over SMTP, one-click links -------------------------------------------
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no e-mail.")
    smtp_port: int = Field(default=587, gt=0, lt=65536, description="587 STARTTLS, 465 TLS.")
    smtp_user: str | None = Field(default=None, description="SMTP login (optional).")
    smtp_password: str | None = Field(default=None, description="SMTP password (optional).")
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS.")
    smtp_tls: bool = Field(default=False, description="Implicit TLS (port 465).")
    mail_from: str = Field(
        default="Strideguard <strideguard@localhost>", description="The From of e-mails."
    )
    base_url: str = Field(
        default="http://localhost:8000", description="Public URL of the web app, for links."
    )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'strideguard.db').resolve()}"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def osm_dir(self) -> Path:
        return self.data_dir / "osm"

    def resolved_osm_extract(self) -> Path | None:
        """The configured extract, else the first one dropped into ``data_dir/osm``."""
        if self.osm_extract is not None:
            return self.osm_extract
        if not self.osm_dir.is_dir():
            return None
        found = sorted(
            p for p in self.osm_dir.iterdir() if p.name.endswith((".osm", ".osm.gz", ".osm.bz2"))
        )
        return found[0] if found else None

    @property
    def workers(self) -> int:
        return self.import_workers or os.cpu_count() or 1

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
