"""Wiring: settings -> database, blob store, importer. The only place these meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connector.ingest import Importer, SurfaceConfig
from connector.sources import Limits
from store.blobs import BlobStore
from store.db import make_engine, migrate, session_factory
from strideguard.settings import Settings


@dataclass
class App:
    """One configured Strideguard instance (CLI process, web worker or scheduler)."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.resolved_database_url)
        migrate(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def blobs(self) -> BlobStore:
        return BlobStore(self.settings.raw_dir)

    def importer(self, *, workers: int | None = None) -> Importer:
        return Importer(
            self.sessions,
            self.blobs,
            workers=workers if workers is not None else self.settings.workers,
            limits=Limits(max_file_bytes=self.settings.max_file_bytes),
            surfaces=self.surface_config(),
        )

    def surface_config(self) -> SurfaceConfig:
        """The map layer for surfaces: a local extract, else Overpass, else none (offline)."""
        extract = self.settings.resolved_osm_extract()
        if extract is not None:
            return SurfaceConfig(osm_extract=extract.resolve())
        if self.settings.overpass_url:
            return SurfaceConfig(
                overpass_url=self.settings.overpass_url,
                cache_path=(self.settings.osm_dir / "overpass-cache.sqlite").resolve(),
            )
        return SurfaceConfig()

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
