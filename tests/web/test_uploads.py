"""Uploads: real FIT files, non-FIT files, hostile names, size limits, malformed bodies."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from store import models
from strideguard.app import App
from tests.web.conftest import RUN, RUN_2, TestClient, make_user, sign_in, upload


def _signed_in(core: App, client: TestClient) -> str:
    make_user(core, "a@example.com")
    return sign_in(client, "a@example.com")


def test_upload_real_and_hostile_files(core: App, client: TestClient, samples_dir: Path) -> None:
    csrf = _signed_in(core, client)
    run = (samples_dir / RUN).read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/activity.fit.gz", gzip.compress((samples_dir / RUN_2).read_bytes()))
        zf.writestr("export/readme.txt", b"hello")
    html_name = "<img src=x onerror=alert(1)>.fit"
    job = upload(
        client,
        [
            ("../../etc/passwd/run.fit", run),
            ("export.zip", archive.getvalue()),
            ("notes.txt", b"not a fit file"),
            (html_name, b"<html>not fit</html>"),
            ("again.fit", run),
            ("empty.fit", (samples_dir / "thomaschampagne__elevate__empty.fit").read_bytes()),
        ],
        csrf,
    )
    assert job["status"] == "done", job
    assert job["findings_ready"] is True
    by_name = {f["name"]: f for f in job["files"]}
    assert by_name["run.fit"]["status"] == "imported"  # path stripped to the base name
    assert by_name["export.zip!export/activity.fit.gz"]["status"] == "imported"
    assert by_name["notes.txt"]["status"] == "skipped"
    assert by_name[html_name]["status"] == "failed"
    assert "not a FIT file" in by_name[html_name]["error"]
    assert by_name["again.fit"]["status"] == "duplicate"
    assert by_name["empty.fit"]["status"] == "failed"
    # Raw files keep the names the athlete uploaded, never our temporary paths.
    with core.sessions() as session:
        names = set(session.scalars(select(models.RawFile.original_name)))
    assert "run.fit" in names
    assert "export.zip!export/activity.fit.gz" in names
    assert not any("uploads" in n or n.startswith("/") for n in names)
    # Nothing is left in the spool folder.
    assert not any((core.settings.data_dir / "uploads").iterdir())
    activities = client.get("/api/activities").json()
    assert len(activities) == 2
    home = client.get("/")
    assert "<img src=x" not in home.text


def test_html_in_user_text_is_escaped_everywhere(core: App, client: TestClient) -> None:
    csrf = _signed_in(core, client)
    evil = "<script>alert(1)</script>"
    headers = {"X-CSRF-Token": csrf}
    assert client.put("/api/profile", json={"display_name": evil}, headers=headers).is_success
    client.post("/api/tokens", json={"name": evil}, headers=headers)
    for page in ("/", "/settings", "/data", "/upload"):
        text = client.get(page).text
        assert evil not in text, page
    assert "&lt;script&gt;" in client.get("/").text


def test_oversized_body_is_refused_before_reading(core: App, client: TestClient) -> None:
    csrf = _signed_in(core, client)
    limit = core.settings.max_upload_bytes
    # Declared too large: refused from the header alone.
    response = client.post(
        "/api/uploads",
        content=b"x" * 10,
        headers={
            "X-CSRF-Token": csrf,
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(limit + 1),
        },
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]

    # Chunked (no Content-Length): counted while streaming, stopped at the limit.
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.fit"\r\n\r\n'
        for _ in range(limit // 65536 + 4):
            sent += 65536
            yield b"\0" * 65536

    response = client.post(
        "/api/uploads",
        content=body(),
        headers={"X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert not any((core.settings.data_dir / "uploads").iterdir())


def test_malformed_multipart(core: App, client: TestClient) -> None:
    csrf = _signed_in(core, client)
    headers = {"X-CSRF-Token": csrf}
    not_multipart = client.post("/api/uploads", json={"files": []}, headers=headers)
    assert not_multipart.status_code == 400
    no_boundary = client.post(
        "/api/uploads", content=b"abc", headers=headers | {"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400
    truncated = client.post(
        "/api/uploads",
        content=b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.fit"\r\n\r\nab',
        headers=headers | {"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert truncated.status_code == 400
    garbage = client.post(
        "/api/uploads",
        content=b"--b\r\n\x00\x01garbage without headers\r\n\r\n--b--\r\n",
        headers=headers | {"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert garbage.status_code == 400
    no_files = client.post(
        "/api/uploads",
        content=b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nvalue\r\n--b--\r\n',
        headers=headers | {"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert no_files.status_code == 422
    for response in (not_multipart, no_boundary, truncated, garbage, no_files):
        assert set(response.json()) == {"detail"}
    assert client.post("/api/uploads", files=[("files", ("a.fit", b"x"))]).status_code == 403


def test_job_status_of_unknown_job_is_404(core: App, client: TestClient) -> None:
    _signed_in(core, client)
    assert client.get("/api/uploads/0123456789abcdef").status_code == 404
    assert client.get("/api/uploads").json() == []
