"""The catalog: every candidate, download, verdict and export, behind typed methods.

All of camid's SQL lives in ``db/``. Callers hand in and get back ``pipeline.records``
dataclasses; ORM rows never escape. Every write is idempotent (re-running a stage never
duplicates a row) because stages are resumed after crashes and re-run by schedulers.

``Catalog`` is the one public facade (``from db import Catalog``), composed of one mixin per
responsibility, each in its own module with its SQL beside its methods:

    db/candidates.py      Candidates       candidates found, scrape runs and their API calls
    db/download_queue.py  DownloadQueue    download claims, files stored, failures, deferrals, skips
    db/due_hosts.py       DueHosts         due candidates on given hosts (checked before a download)
    db/host_pauses.py     HostPauses       hosts that asked every client to wait, until when
    db/curation_store.py  CurationStore    header facts (and curators' leases), pixel facts, phashes
    db/verdicts.py        Verdicts         what needs judging, verdicts and their reasons
    db/signatures.py      Signatures       encoder-signature counts and examples
    db/exports.py         Exports          accepted files and recorded exports
    db/stats.py           Stats            ``camid stats``'s aggregates
    db/card.py            DatasetCard      the dataset card's files, rejections and examples

Mixins rather than composition: every caller asks one object for everything with the names it
uses today, and composition would need a forwarding method per name (or ``catalog.queue.x``
everywhere). The mixins hold no state but the engine, never call one another, and share only
the SQL pieces of ``db/sqlkit.py`` (and the download queue writes a batch's host pauses with
``db.host_pauses``' function, in the batch's transaction), so each reads on its own.
"""

from __future__ import annotations

from sqlalchemy import Engine, exc

from db.candidates import Candidates
from db.card import DatasetCard
from db.connection import make_engine
from db.curation_store import CurationStore
from db.download_queue import DownloadQueue
from db.due_hosts import DueHosts
from db.exports import Exports
from db.host_pauses import HostPauses
from db.migrate import upgrade
from db.signatures import Signatures
from db.stats import Stats
from db.verdicts import Verdicts
from pipeline.errors import ConfigError


class Catalog(Candidates, DownloadQueue, DueHosts, HostPauses, CurationStore, Verdicts, Signatures,
              Exports, Stats, DatasetCard):
    """A handle on one catalog database (SQLite file or any SQLAlchemy URL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Catalog:
        """Open (creating if needed) and migrate the catalog at ``url`` to the newest schema."""
        engine = make_engine(url)
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigError(f"catalog dialect {engine.dialect.name!r} is not supported "
                              "(use sqlite:/// or postgresql+psycopg://)")
        try:
            upgrade(engine)
        except exc.DatabaseError as err:  # unreachable server, bad password, not a database file
            safe = engine.url.render_as_string(hide_password=True)
            detail = " ".join(str(err.orig).split())  # libpq's messages span lines
            raise ConfigError(f"cannot open catalog {safe}: {detail}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
