"""Tests for `connector.sources`: every fixture is built here, in tmp_path, with zipfile/gzip."""

from __future__ import annotations

import gzip
import io
import os
import random
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.sources import Limits, SourceItem, iter_sources

MiB = 1024 * 1024


def fit_bytes(tag: str) -> bytes:
    """A FIT-ish payload: this module never decodes FIT, so only identity matters."""
    return b"\x0e\x10\x00\x00.FIT" + tag.encode()


def make_zip(members: dict[str, bytes], *, deflate: bool = True) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, method)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def run(*paths: Path, limits: Limits | None = None) -> list[SourceItem]:
    return list(iter_sources(paths, limits=limits or Limits()))


def by_path(items: list[SourceItem]) -> dict[str, SourceItem]:
    paths = [i.path for i in items]
    assert len(paths) == len(set(paths)), paths
    return {i.path: i for i in items}


def statuses(items: list[SourceItem]) -> Counter[str]:
    return Counter(i.status for i in items)


# --- plain files ---------------------------------------------------------------------------------


def test_single_fit_file(tmp_path: Path) -> None:
    f = tmp_path / "run.FIT"
    f.write_bytes(fit_bytes("a"))
    assert run(f) == [SourceItem(str(f), "fit", fit_bytes("a"), None)]


def test_fit_gz_is_gunzipped(tmp_path: Path) -> None:
    f = tmp_path / "run.Fit.GZ"
    f.write_bytes(gz(fit_bytes("a")))
    assert run(f) == [SourceItem(str(f), "fit", fit_bytes("a"), None)]


def test_corrupt_gzip_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fit.gz"
    bad.write_bytes(fit_bytes("not gzip"))
    cut = tmp_path / "cut.fit.gz"
    cut.write_bytes(gz(os.urandom(5000))[:100])
    items = run(bad, cut)
    assert [i.status for i in items] == ["failed", "failed"]
    assert all("gzip" in (i.error or "") for i in items)


def test_empty_fit_fails(tmp_path: Path) -> None:
    f = tmp_path / "empty.fit"
    f.touch()
    assert run(f) == [SourceItem(str(f), "failed", None, "empty file")]


def test_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.fit"
    assert run(missing) == [SourceItem(str(missing), "failed", None, "no such file or directory")]


def test_command_line_path_with_other_name_is_skipped_clearly(tmp_path: Path) -> None:
    f = tmp_path / "run.gpx"
    f.write_text("<gpx/>")
    [item] = run(f)
    assert item.status == "skipped"
    assert "named on the command line" in (item.error or "")
    assert ".fit" in (item.error or "")


def test_plain_file_over_size_limit_refused_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "big.fit"
    f.write_bytes(b"x" * 3000)
    [item] = run(f, limits=Limits(max_file_bytes=1024))
    assert item.status == "failed"
    assert item.error == "file is 2.9 KB, over the 1 KB limit"


def test_gz_file_over_size_limit_after_gunzip(tmp_path: Path) -> None:
    f = tmp_path / "big.fit.gz"
    f.write_bytes(gz(os.urandom(5000)))
    [item] = run(f, limits=Limits(max_file_bytes=4096))
    assert item.status == "failed"
    assert item.error == "decompressed file is over the 4 KB limit"


def test_default_limit_message_units(tmp_path: Path) -> None:
    """The default limit prints as a round "50 MB" (sparse file: nothing is really written)."""
    f = tmp_path / "huge.fit"
    with f.open("wb") as out:
        out.truncate(int(73.2 * MiB))
    [item] = run(f)
    assert item.error == "file is 73.2 MB, over the 50 MB limit"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    """Reading a FIFO would block forever; it must be skipped without opening it."""
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.fit")
    items = run(folder, folder / "pipe.fit")
    assert [i.status for i in items] == ["skipped", "skipped"]
    assert all("regular file" in (i.error or "") for i in items)


def test_items_are_lazy(tmp_path: Path) -> None:
    """The first item comes out before later paths are even produced."""
    f = tmp_path / "a.fit"
    f.write_bytes(fit_bytes("a"))

    def paths() -> Iterator[Path]:
        yield f
        raise AssertionError("iterated too far")

    it = iter_sources(paths())
    assert next(it).status == "fit"


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        Limits(max_file_bytes=0)
    with pytest.raises(ValueError, match="ratio"):
        Limits(max_compression_ratio=0.5)


# --- folders -------------------------------------------------------------------------------------


def test_folder_recursion_sorted_with_skips(tmp_path: Path) -> None:
    root = tmp_path / "garmin"
    (root / "2024" / "02").mkdir(parents=True)
    (root / "2023").mkdir()
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._b.fit").write_bytes(b"junk")
    (root / ".git").mkdir()
    (root / ".git" / "x.fit").write_bytes(b"junk")
    (root / "2024" / "02" / "b.fit").write_bytes(fit_bytes("b"))
    (root / "2024" / "a.fit.gz").write_bytes(gz(fit_bytes("a")))
    (root / "2023" / "c.FIT").write_bytes(fit_bytes("c"))
    (root / "2023" / "notes.txt").write_text("hi")
    (root / "2023" / ".DS_Store").write_bytes(b"\0")
    (root / "summary.csv").write_text("a,b")

    items = run(root)
    assert [(i.path, i.status) for i in items] == [
        (str(root / ".git"), "skipped"),
        (str(root / "2023" / ".DS_Store"), "skipped"),
        (str(root / "2023" / "c.FIT"), "fit"),
        (str(root / "2023" / "notes.txt"), "skipped"),
        (str(root / "2024" / "02" / "b.fit"), "fit"),
        (str(root / "2024" / "a.fit.gz"), "fit"),
        (str(root / "__MACOSX"), "skipped"),
        (str(root / "summary.csv"), "skipped"),
    ]
    assert statuses(items) == {"fit": 3, "skipped": 5}
    assert by_path(items)[str(root / "2024" / "a.fit.gz")].data == fit_bytes("a")
    assert by_path(items)[str(root / "2023" / "notes.txt")].error == (
        "not a FIT file name (expected a .fit, .fit.gz or .zip file)"
    )


def test_symlink_loop_is_not_followed_twice(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.fit").write_bytes(fit_bytes("a"))
    (root / "sub" / "loop").symlink_to(root)
    (root / "again").symlink_to(root / "sub")
    (root / "link.fit").symlink_to(root / "sub" / "a.fit")

    items = run(root, root)  # listed twice, too
    assert [(i.path, i.status) for i in items] == [
        (str(root / "again" / "a.fit"), "fit"),
        (str(root / "again" / "loop"), "skipped"),  # back to root: a loop
        (str(root / "link.fit"), "fit"),
        (str(root / "sub"), "skipped"),  # already walked through "again"
        (str(root), "skipped"),
    ]
    assert "already visited" in (items[-1].error or "")


def test_symlinked_folder_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.fit").write_bytes(fit_bytes("a"))
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(real)
    assert [(i.path, i.status) for i in run(root)] == [(str(root / "linked" / "a.fit"), "fit")]


def test_broken_symlink_fails(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "dangling.fit").symlink_to(tmp_path / "gone.fit")
    (root / "self.fit").symlink_to(root / "self.fit")
    items = run(root, root / "dangling.fit")
    assert [(i.path, i.status, i.error) for i in items[::2]] == [
        (str(root / "dangling.fit"), "failed", "broken symbolic link"),
        (str(root / "dangling.fit"), "failed", "broken symbolic link"),
    ]
    assert items[1].status == "failed"  # self-loop: "too many levels of symbolic links"
    assert "symbolic links" in (items[1].error or "")


# --- archives ------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "streamed"])
def test_garmin_like_nested_zip(tmp_path: Path, in_memory: bool) -> None:
    uploaded = make_zip(
        {
            "123_ACTIVITY.fit": fit_bytes("123"),
            "456_ACTIVITY.FIT": fit_bytes("456"),
            "789.tcx": b"<tcx/>",
        }
    )
    export = tmp_path / "export.zip"
    export.write_bytes(
        make_zip(
            {
                "DI_CONNECT/DI-Connect-User/user_profile.json": b"{}",
                "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip": uploaded,
                "DI_CONNECT/DI-Connect-Fitness/summarizedActivities.json": b"[]",
            }
        )
    )
    limits = Limits(max_in_memory_archive_bytes=10 * MiB if in_memory else 0)
    items = by_path(run(export, limits=limits))
    inner = f"{export}!DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"
    assert items[f"{inner}!123_ACTIVITY.fit"].data == fit_bytes("123")
    assert items[f"{inner}!456_ACTIVITY.FIT"].data == fit_bytes("456")
    assert items[f"{inner}!789.tcx"].status == "skipped"
    assert statuses(list(items.values())) == {"fit": 2, "skipped": 3}


def test_strava_like_export(tmp_path: Path) -> None:
    export = tmp_path / "export_123.zip"
    export.write_bytes(
        make_zip(
            {
                "activities.csv": b"Activity ID,Filename\n1,activities/1.fit.gz\n",
                "activities/1.fit.gz": gz(fit_bytes("1")),
                "activities/2.gpx": b"<gpx/>",
                "activities/3.FIT.GZ": gz(fit_bytes("3")),
                "media/abc.jpg": b"\xff\xd8\xff",
                "profile.csv": b"x",
                "__MACOSX/activities/._1.fit.gz": b"junk",
            },
            deflate=False,
        )
    )
    items = run(export)
    fits = {i.path: i.data for i in items if i.status == "fit"}
    assert fits == {
        f"{export}!activities/1.fit.gz": fit_bytes("1"),
        f"{export}!activities/3.FIT.GZ": fit_bytes("3"),
    }
    assert statuses(items) == {"fit": 2, "skipped": 5}


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(make_zip({"zeros.fit": bytes(4 * MiB), "ok.fit": fit_bytes("ok")}))
    items = by_path(run(bomb, limits=Limits(max_compression_ratio=10)))
    refused = items[f"{bomb}!zeros.fit"]
    assert refused.status == "failed"
    assert "zip bomb" in (refused.error or "")
    assert "over the 10x limit" in (refused.error or "")
    assert items[f"{bomb}!ok.fit"].status == "fit"  # the walk goes on


def test_nested_zip_bomb_by_ratio_refuses_the_nested_archive(tmp_path: Path) -> None:
    inner = make_zip({"pad.txt": bytes(3 * MiB)}, deflate=False)
    outer = tmp_path / "outer.zip"
    outer.write_bytes(make_zip({"inner.zip": inner, "ok.fit": fit_bytes("ok")}))
    items = by_path(run(outer))
    assert items[f"{outer}!inner.zip"].status == "failed"
    assert "zip bomb" in (items[f"{outer}!inner.zip"].error or "")
    assert items[f"{outer}!ok.fit"].status == "fit"


def test_zip_bomb_by_total_counts_nested_archives(tmp_path: Path) -> None:
    payload = os.urandom(3000)  # incompressible: only the total can stop it
    inner = make_zip({f"{n}.fit": payload for n in range(3)}, deflate=False)
    archive = tmp_path / "many.zip"
    archive.write_bytes(
        make_zip(
            {
                "a.fit": payload,
                "nested.zip": inner,
                "b.fit": payload,
                "c.fit": payload,
                "readme.txt": b"x",
                "d.zip": inner,
            },
            deflate=False,
        )
    )
    # a.fit + nested.zip (its own size counts) + 0.fit fit; 1.fit goes over.
    limit = 3000 + len(inner) + 3000 + 1000
    items = run(archive, limits=Limits(max_total_uncompressed_bytes=limit))
    assert [(i.path.removeprefix(str(archive)), i.status) for i in items] == [
        ("!a.fit", "fit"),
        ("!nested.zip!0.fit", "fit"),
        ("!nested.zip!1.fit", "failed"),
        ("!nested.zip!2.fit", "failed"),
        ("!b.fit", "failed"),
        ("!c.fit", "failed"),
        ("!readme.txt", "skipped"),
        ("!d.zip", "failed"),
    ]
    assert all("zip bomb" in (i.error or "") for i in items if i.status == "failed")
    assert f"more than {limit / 1024:.1f} KB uncompressed in total" in (items[-1].error or "")

    # The budget is per top-level archive: a second copy gets a fresh one.
    copy = tmp_path / "copy.zip"
    copy.write_bytes(archive.read_bytes())
    assert run(copy, limits=Limits(max_total_uncompressed_bytes=limit))[1].status == "fit"


def test_size_limit_on_zip_members(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(
        make_zip(
            {
                "big.fit": os.urandom(5000),
                "big.fit.gz": gz(os.urandom(5000)),
                "small.fit.gz": gz(fit_bytes("s")),
            }
        )
    )
    items = by_path(run(archive, limits=Limits(max_file_bytes=4096)))
    assert items[f"{archive}!big.fit"].error == "file is 4.9 KB, over the 4 KB limit"
    assert items[f"{archive}!big.fit.gz"].error == "decompressed file is over the 4 KB limit"
    assert items[f"{archive}!small.fit.gz"].data == fit_bytes("s")


def test_nested_depth_limit(tmp_path: Path) -> None:
    level3 = make_zip({"deep.fit": fit_bytes("3")})
    level2 = make_zip({"l3.zip": level3, "two.fit": fit_bytes("2")})
    top = tmp_path / "l1.zip"
    top.write_bytes(make_zip({"l2.zip": level2}))
    items = by_path(run(top, limits=Limits(max_archive_depth=2)))
    assert items[f"{top}!l2.zip!two.fit"].status == "fit"
    assert items[f"{top}!l2.zip!l3.zip"] == SourceItem(
        f"{top}!l2.zip!l3.zip",
        "failed",
        None,
        "archive refused: nested more than 2 zip levels deep",
    )
    assert by_path(run(top))[f"{top}!l2.zip!l3.zip!deep.fit"].status == "fit"


@pytest.mark.parametrize(
    "content",
    [b"PK\x05\x06 not really a zip", b"", b"\x89PNG\r\n"],
    ids=["bad-magic", "empty", "png"],
)
def test_corrupt_zip_fails(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(content)
    [item] = run(archive)
    assert item.status == "failed"
    assert (item.error or "").startswith("not a readable zip archive")


def test_truncated_zip_fails_and_bad_nested_zip_does_not_stop_the_walk(tmp_path: Path) -> None:
    good = make_zip({"a.fit": os.urandom(4000), "b.fit": os.urandom(4000)}, deflate=False)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good[: len(good) // 2])
    [item] = run(cut)
    assert item.status == "failed"

    outer = tmp_path / "outer.zip"
    outer.write_bytes(make_zip({"broken.zip": good[:-30], "ok.fit": fit_bytes("ok")}))
    items = by_path(run(outer))
    assert items[f"{outer}!broken.zip"].status == "failed"
    assert items[f"{outer}!ok.fit"].status == "fit"


def test_corrupt_member_data_fails_that_member_only(tmp_path: Path) -> None:
    data = bytearray(make_zip({"a.fit": fit_bytes("a") * 50, "b.fit": fit_bytes("b")}))
    start = data.index(b"PK\x03\x04") + 30 + len("a.fit")
    data[start : start + 8] = b"\xff" * 8  # garble a.fit's deflate stream
    archive = tmp_path / "garbled.zip"
    archive.write_bytes(bytes(data))
    items = by_path(run(archive))
    assert items[f"{archive}!a.fit"].status == "failed"
    assert items[f"{archive}!b.fit"].data == fit_bytes("b")


def test_encrypted_member_fails(tmp_path: Path) -> None:
    data = bytearray(make_zip({"secret.fit": fit_bytes("s"), "open.fit": fit_bytes("o")}))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.index(signature)  # the first member's local and central headers
        data[pos + flag_offset] |= 0x01
    archive = tmp_path / "locked.zip"
    archive.write_bytes(bytes(data))
    items = by_path(run(archive))
    assert items[f"{archive}!secret.fit"].status == "failed"
    assert "encrypted" in (items[f"{archive}!secret.fit"].error or "")
    assert items[f"{archive}!open.fit"].status == "fit"


def test_hostile_member_names_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [
        "../evil.fit",
        "../../../../../../tmp/evil2.fit",
        "/abs/evil.fit",
        "..\\win\\evil.fit",
        "C:\\Windows\\evil.fit",
        "C:/evil.fit",
        "ansi\x1b[31mred\x07.fit",
        "bidi\u202eexe.fit",
        "line\nbreak.fit",
    ]
    archive = tmp_path / "in" / "hostile.zip"
    archive.parent.mkdir()
    archive.write_bytes(make_zip({name: fit_bytes(name) for name in names}))
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = sorted(tmp_path.rglob("*"))

    items = run(archive)

    assert sorted(tmp_path.rglob("*")) == before
    assert not (Path(tempfile.gettempdir()) / "evil2.fit").exists()
    assert [i.status for i in items] == ["fit"] * len(names)
    assert {i.data for i in items} == {fit_bytes(name) for name in names}
    members = [i.path.removeprefix(f"{archive}!") for i in items]
    assert members[:6] == [
        "../evil.fit",
        "../../../../../../tmp/evil2.fit",
        "/abs/evil.fit",
        "../win/evil.fit",
        "C:/Windows/evil.fit",
        "C:/evil.fit",
    ]
    assert members[6:] == ["ansi\\x1b[31mred\\x07.fit", "bidi\\u202eexe.fit", "line\\x0abreak.fit"]
    assert all(ch.isprintable() for i in items for ch in i.path)


def test_undecodable_file_name_is_escaped(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9\x1b.fit")
    (tmp_path / name).write_bytes(fit_bytes("x"))
    [item] = run(tmp_path)
    assert item.status == "fit"
    assert item.path.endswith("caf\\xe9\\x1b.fit")
    item.path.encode("utf-8")  # storable and printable as is


def test_symlink_member_is_not_followed(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link.fit")
    info.external_attr = (0o120777 << 16) | 0
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    archive = tmp_path / "links.zip"
    archive.write_bytes(buf.getvalue())
    [item] = run(archive)
    assert item.status == "skipped"
    assert "symbolic link" in (item.error or "")


# --- property: every input file appears exactly once --------------------------------------------

Tree: TypeAlias = dict[str, str | tuple[str, "Tree"]]
"""name stem -> leaf extension, or ("dir" | "zip", subtree)."""

EXTENSIONS = [".fit", ".FIT", ".fit.gz", ".txt", ".csv", ""]
stems = st.text(alphabet="abcxyz019_-", min_size=1, max_size=5)
trees: st.SearchStrategy[Tree] = st.recursive(
    st.dictionaries(stems, st.sampled_from(EXTENSIONS), max_size=4),
    lambda children: st.dictionaries(
        stems,
        st.one_of(
            st.sampled_from(EXTENSIONS),
            st.tuples(st.sampled_from(["dir", "zip"]), children),
        ),
        max_size=4,
    ),
    max_leaves=12,
)


def leaf_payload(display: str, ext: str) -> bytes:
    data = fit_bytes(display)
    return gz(data) if ext == ".fit.gz" else data


def expected_status(ext: str) -> str:
    return "fit" if ext.lower() in (".fit", ".fit.gz") else "skipped"


def build_zip(tree: Tree, display: str, prefix: str, out: dict[str, bytes]) -> dict[str, str]:
    """Fill `out` with member name -> bytes; return display path -> expected status."""
    expected: dict[str, str] = {}
    for stem, node in tree.items():
        if isinstance(node, str):
            name = prefix + stem + node
            out[name] = leaf_payload(f"{display}!{name}", node)
            expected[f"{display}!{name}"] = expected_status(node)
        elif node[0] == "dir":
            expected |= build_zip(node[1], display, f"{prefix}{stem}/", out)
        else:
            name = f"{prefix}{stem}.zip"
            members: dict[str, bytes] = {}
            expected |= build_zip(node[1], f"{display}!{name}", "", members)
            out[name] = make_zip(members)
    return expected


def build_dir(tree: Tree, folder: Path) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    expected: dict[str, str] = {}
    for stem, node in tree.items():
        if isinstance(node, str):
            path = folder / (stem + node)
            path.write_bytes(leaf_payload(str(path), node))
            expected[str(path)] = expected_status(node)
        elif node[0] == "dir":
            expected |= build_dir(node[1], folder / stem)
        else:
            path = folder / f"{stem}.zip"
            members: dict[str, bytes] = {}
            expected |= build_zip(node[1], str(path), "", members)
            path.write_bytes(make_zip(members))
    return expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, in_memory=st.booleans())
def test_every_input_file_appears_exactly_once(tree: Tree, in_memory: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        expected = build_dir(tree, root)
        limits = Limits(max_archive_depth=50, max_in_memory_archive_bytes=MiB if in_memory else 0)
        items = run(root, limits=limits)

    assert Counter(i.path for i in items) == Counter(list(expected))
    for item in items:
        assert item.status == expected[item.path], item
        if item.status == "fit":
            assert item.data == fit_bytes(item.path)


def test_deterministic_order(tmp_path: Path) -> None:
    rng = random.Random(7)
    for n in rng.sample(range(100), 20):
        (tmp_path / f"{n}.fit").write_bytes(fit_bytes(str(n)))
    assert [i.path for i in run(tmp_path)] == sorted(str(p) for p in tmp_path.iterdir())
