"""Your data: the export holds everything; deleting an account leaves nothing of it behind."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import func, select

from store import accounts, models
from store.schema import Base
from strideguard.app import App
from tests.web.conftest import (
    PASSWORD,
    RUN,
    RUN_2,
    make_user,
    new_client,
    sign_in,
    upload,
)


def test_export_and_delete_account(core: App, web: FastAPI, samples_dir: Path) -> None:
    alice_user, alice = make_user(core, "alice@example.com")
    _, bob = make_user(core, "bob@example.com")
    a = new_client(web)
    a_csrf = sign_in(a, "alice@example.com")
    b = new_client(web)
    b_csrf = sign_in(b, "bob@example.com")
    run, run_2 = (samples_dir / RUN).read_bytes(), (samples_dir / RUN_2).read_bytes()
    assert upload(a, [(RUN, run), (RUN_2, run_2)], a_csrf)["status"] == "done"
    assert upload(b, [(RUN, run)], b_csrf)["status"] == "done"  # same file as Alice's
    a.post(
        "/api/logs/strength",
        json={"minutes": 20, "note": "planks"},
        headers={"X-CSRF-Token": a_csrf},
    )

    export = a.get("/api/export")
    assert export.status_code == 200
    assert export.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        names = set(zf.namelist())
        everything = json.loads(zf.read("strideguard.json"))
        fits = sorted(n for n in names if n.startswith("fit/"))
        assert {zf.read(n) for n in fits} == {run, run_2}
    assert {"activities.csv", "findings.csv", "strength_logs.csv", "pain_logs.csv"} <= names
    assert everything["profile"]["email"] == "alice@example.com"
    assert len(everything["activities"]) == 2
    assert everything["strength_logs"][0]["note"] == "planks"

    with core.sessions() as session:
        alice_blobs = set(
            session.scalars(select(models.RawFile.sha256).where(models.RawFile.athlete_id == alice))
        )
    wrong = a.post("/data/delete", data={"password": "not-it", "csrf_token": a_csrf})
    assert wrong.status_code == 403
    assert a.get("/api/activities").status_code == 200

    gone = a.post("/data/delete", data={"password": PASSWORD, "csrf_token": a_csrf})
    assert gone.status_code == 200
    assert "Account deleted" in gone.text
    assert a.get("/api/profile").status_code == 401

    with core.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if "athlete_id" in table.c:
                count = session.scalar(
                    select(func.count()).select_from(table).where(table.c.athlete_id == alice)
                )
                assert count == 0, table.name
            if "user_id" in table.c:
                count = session.scalar(
                    select(func.count()).select_from(table).where(table.c.user_id == alice_user)
                )
                assert count == 0, table.name
        assert session.get(models.Athlete, alice) is None
        assert (
            session.scalar(select(accounts.User).where(accounts.User.email == "alice@example.com"))
            is None
        )
        bob_blobs = set(
            session.scalars(select(models.RawFile.sha256).where(models.RawFile.athlete_id == bob))
        )
        bob_activities = session.scalar(
            select(func.count())
            .select_from(models.Activity)
            .where(models.Activity.athlete_id == bob)
        )
    # Alice's own files are gone; the one Bob uploaded too stays for Bob.
    for digest in alice_blobs - bob_blobs:
        assert not core.blobs.path_for(digest).exists()
    for digest in bob_blobs:
        assert core.blobs.path_for(digest).exists()
    assert bob_activities == 1
    assert b.get("/api/activities").status_code == 200


def test_delete_account_via_api_needs_the_password(core: App, web: FastAPI) -> None:
    make_user(core, "a@example.com")
    client = new_client(web)
    csrf = sign_in(client, "a@example.com")
    headers = {"X-CSRF-Token": csrf}
    assert (
        client.post("/api/account/delete", json={"password": "x"}, headers=headers).status_code
        == 403
    )
    ok = client.post("/api/account/delete", json={"password": PASSWORD}, headers=headers)
    assert ok.status_code == 204
    with core.sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Athlete)) == 0
