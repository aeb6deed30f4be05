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
