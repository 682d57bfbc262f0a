"""A developer's daemon on the team's shared index: the index worker keeps only what differs locally (the overlay),
and retrieval reads both, the local rows winning.

Real parts throughout: a real S3 server (SeaweedFS on loopback), the real ``srag-index build --index-uri`` for CI,
the real index writer (``IndexService``) and real LanceDB tables on disk and on S3.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.seaweed import SECRET_KEY, SeaweedServer, running_seaweed
from indexer.layered_query import LayeredReader
from indexer.shared_view import overlay_dir
from indexer.writer import IndexService, ServiceTuning
from tests.indexer.test_cli import srag_index
from tests.support.indexing import small_workspace
from tests.support.waiting import wait_until

HTTP = {"allow_http": "true"}


def _publish(root: Path, uri: str, seaweed: SeaweedServer, cache: Path) -> None:
    built = srag_index("build", str(root), "--index-uri", uri, "--storage-option", "allow_http=true", cache=cache,
                       env=seaweed.environment())
    assert built.returncode == 0, built.stderr


def _service(dev: Path, index_dir: str, uri: str, **tuning: float) -> IndexService:
    service = IndexService(dev, index_dir, {"shared_index": uri, "shared_index_options": HTTP},
                           tuning=ServiceTuning(watch=False, **tuning))
    service.start()
    assert service.wait_idle(120), service.status()
    return service


def _paths(hits: list) -> set[str]:
    return {h.path for h in hits}


def _copied(service: IndexService) -> None:
    """Wait until the worker's local copy of the shared table holds the version it read."""
    def done() -> bool:
        shared = service.status()["shared_index"]
        return bool(shared["version"]) and shared["local_copy"]["version"] == shared["version"]

    wait_until(done, 60, "the local copy of the shared table")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, seaweed: SeaweedServer) -> SeaweedServer:
    for key, value in seaweed.environment().items():
        monkeypatch.setenv(key, value)
    return seaweed


def test_the_overlay_holds_only_what_differs_and_local_rows_win(tmp_path: Path, aws: SeaweedServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ci = small_workspace(tmp_path / "ci")
    uri = f"s3://{aws.create_bucket()}/team"
    _publish(ci, uri, aws, tmp_path / "ci-cache")
    # The developer's checkout: one file changed, one deleted, one new; the third file as CI built it.
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    (dev / "shapes.py").write_text((dev / "shapes.py").read_text() + "\n\ndef hexagon(side):\n    return side * 6\n")
    (dev / "web" / "greeting.js").unlink()
    (dev / "extra.py").write_text("def brand_new_helper():\n    return 1\n")
    index_dir = overlay_dir(str(tmp_path / "local-index"), uri)
    service = _service(dev, index_dir, uri)
    try:
        shared = service.status()["shared_index"]
        assert shared["version"] > 0 and shared["reachable"] is True
        assert (shared["overlay_files"], shared["deleted_files"]) == (2, 1), shared
        # Before the worker's copy is complete, a reader queries S3 directly (a fresh machine's first minute).
        direct = LayeredReader(str(tmp_path / "fresh-machine"), uri, HTTP)
        assert _paths(direct.symbols(["parse_http_response", "greetUser"])) == {"net/parser.py", "web/greeting.js"}
        assert direct.describe()["reads"] == "object storage" and direct.describe()["reachable"] is True
        _copied(service)
        reader = LayeredReader(index_dir, uri, HTTP)
        assert set(reader._local_reader().stats()["indexes"])  # the overlay is a real index of its own
        assert _paths(reader._local_reader().by_path("net/parser.py")) == set()  # served from the shared index
        assert _paths(reader.symbols(["parse_http_response"])) == {"net/parser.py"}  # ...and found there
        assert _paths(reader.symbols(["hexagon"])) == {"shapes.py"}  # the local change
        area = reader.symbols(["area"])
        assert len(area) == 1 and area[0].path == "shapes.py"  # one copy of the changed file: the local one
        assert reader.symbols(["greetUser", "Greeter"]) == []  # deleted locally: masked
        assert _paths(reader.symbols(["brand_new_helper"])) == {"extra.py"}
        assert reader.by_path("web/greeting.js") == [] and reader.by_path("net/parser.py")
        assert reader.describe()["reads"] == "local copy" and reader.describe()["masked_files"] == 2
        # An unsaved buffer wins over the shared rows of its file.
        service.buffer_changed(str(dev / "net" / "parser.py"), "def parse_fast(raw):\n    return raw\n", 1)
        wait_until(lambda: reader.symbols(["parse_fast"]), 30, "the unsaved buffer's rows")
        wait_until(lambda: not reader.symbols(["parse_http_response"]), 30, "the shared rows of the edited file hidden")
        # The buffer closes: the file on disk equals the shared copy again, and the shared rows serve it.
        service.buffer_closed(str(dev / "net" / "parser.py"))
        wait_until(lambda: reader.symbols(["parse_http_response"]) and not reader.symbols(["parse_fast"]), 30,
                   "the shared rows back after the buffer closed")
        assert _paths(reader._local_reader().by_path("net/parser.py")) == set()
    finally:
        service.stop()
    said = caplog.text + repr(service.status())
    assert SECRET_KEY not in said


def test_a_ci_rebuild_is_seen_without_a_restart(tmp_path: Path, aws: SeaweedServer) -> None:
    ci = small_workspace(tmp_path / "ci")
    uri = f"s3://{aws.create_bucket()}/team"
    _publish(ci, uri, aws, tmp_path / "ci-cache")
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    index_dir = overlay_dir(str(tmp_path / "local-index"), uri)
    # How often the worker asks for the newest version is tuned down so that the test need not wait 20 s.
    service = _service(dev, index_dir, uri, shared_refresh_s=0.3)
    try:
        first = service.status()["shared_index"]
        assert first["overlay_files"] == 0
        reader = LayeredReader(index_dir, uri, HTTP, consistency_s=0.2)
        assert reader.symbols(["octagon"]) == []
        # CI publishes a new commit; the developer pulls it: their file is the new shared one, no local copy.
        added = "\n\ndef octagon(side):\n    return side * 8\n"
        (ci / "net" / "parser.py").write_text((ci / "net" / "parser.py").read_text() + added)
        _publish(ci, uri, aws, tmp_path / "ci-cache")
        (dev / "net" / "parser.py").write_text((dev / "net" / "parser.py").read_text() + added)
        service.file_changed([str(dev / "net" / "parser.py")])
        wait_until(lambda: service.status()["shared_index"]["version"] > first["version"], 60, "the new version read")
        wait_until(lambda: service.status()["shared_index"]["overlay_files"] == 0 and service.wait_idle(0), 60,
                   "the pulled file served from the shared index again")
        wait_until(lambda: _paths(reader.symbols(["octagon"])) == {"net/parser.py"}, 60, "the new version's rows")
        assert _paths(reader._local_reader().by_path("net/parser.py")) == set()
    finally:
        service.stop()


@pytest.fixture
def own_seaweed(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A server of this test's own, to be stopped and started again."""
    with running_seaweed(tmp_path / "weed") as server:
        yield server


def test_the_storage_stopped_mid_session_and_started_again(tmp_path: Path, own_seaweed: SeaweedServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in own_seaweed.environment().items():
        monkeypatch.setenv(key, value)
    ci = small_workspace(tmp_path / "ci")
    uri = f"s3://{own_seaweed.create_bucket()}/team"
    _publish(ci, uri, own_seaweed, tmp_path / "ci-cache")
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    (dev / "extra.py").write_text("def brand_new_helper():\n    return 1\n")
    index_dir = overlay_dir(str(tmp_path / "local-index"), uri)
    service = _service(dev, index_dir, uri, shared_refresh_s=0.3)
    _copied(service)
    reader = LayeredReader(index_dir, uri, HTTP)  # reads the worker's local copy
    said: list[tuple[bool, str | None]] = []
    direct = LayeredReader(str(tmp_path / "fresh-machine"), uri, HTTP,  # no copy yet: reads S3 directly
                           on_change=lambda up, why: said.append((up, why)), retry_s=0.5)
    both = ["parse_http_response", "brand_new_helper"]
    try:
        assert _paths(reader.symbols(both)) == {"net/parser.py", "extra.py"}
        assert _paths(direct.symbols(both)) == {"net/parser.py"}
        own_seaweed.stop()
        # The local copy is the last version read: retrieval goes on from it and from the overlay.
        assert _paths(reader.symbols(both)) == {"net/parser.py", "extra.py"}
        # Reading S3 directly, queries go on without it; the outage is said once, however many queries meet it.
        for _ in range(3):
            assert direct.symbols(both) == []
        assert len(said) == 1 and said[0][0] is False and "unreachable" in str(said[0][1]), said
        wait_until(lambda: service.status()["shared_index"]["reachable"] is False, 60, "the worker notices")
        assert service.status()["shared_index"]["version"] > 0  # the last version read is kept
        # A file the developer changes meanwhile is still indexed locally.
        (dev / "extra.py").write_text("def renamed_helper():\n    return 2\n")
        service.file_changed([str(dev / "extra.py")])
        wait_until(lambda: _paths(reader.symbols(["renamed_helper"])) == {"extra.py"}, 60, "a local change offline")
        own_seaweed.start_again()
        # It comes back by itself, and says so once.
        wait_until(lambda: _paths(direct.symbols(["parse_http_response"])) == {"net/parser.py"}, 60,
                   "the shared rows back")
        wait_until(lambda: service.status()["shared_index"]["reachable"] is True, 60, "the worker reads it again")
        assert [up for up, _ in said] == [False, True], said
    finally:
        service.stop()
        reader.close()
        direct.close()


def test_bad_credentials_are_named_and_never_shown(tmp_path: Path, aws: SeaweedServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ci = small_workspace(tmp_path / "ci")
    uri = f"s3://{aws.create_bucket()}/team"
    _publish(ci, uri, aws, tmp_path / "ci-cache")
    wrong = "wrong-secret-7c1d9e"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    index_dir = overlay_dir(str(tmp_path / "local-index"), uri)
    service = _service(dev, index_dir, uri)
    said: list[tuple[bool, str | None]] = []
    reader = LayeredReader(index_dir, uri, HTTP, on_change=lambda up, why: said.append((up, why)))
    try:
        status = service.status()["shared_index"]
        assert status["reachable"] is False and "AWS_SECRET_ACCESS_KEY" in str(status["error"]), status
        assert status["version"] == 0 and service.status()["files"] == 3  # nothing known: everything local
        assert _paths(reader.symbols(["parse_http_response"])) == {"net/parser.py"}  # from the local rows
        assert said and "refused the credentials" in str(said[0][1]), said
    finally:
        service.stop()
    text = caplog.text + repr(service.status()) + repr(said)
    assert wrong not in text and SECRET_KEY not in text


def test_a_shared_table_over_the_copy_limit_is_read_on_object_storage(tmp_path: Path, aws: SeaweedServer) -> None:
    from indexer.object_store import settings_options
    from indexer.shared_mirror import TooLarge, mirrored_version, sync

    ci = small_workspace(tmp_path / "ci")
    uri = f"s3://{aws.create_bucket()}/team"
    _publish(ci, uri, aws, tmp_path / "ci-cache")
    options = settings_options(HTTP)
    copied = sync(uri, options, tmp_path / "a", 1)
    assert copied["files"] == copied["fetched_files"] > 0 and mirrored_version(tmp_path / "a") == 1
    assert sync(uri, options, tmp_path / "a", 2)["fetched_files"] == 0  # nothing new: nothing fetched
    with pytest.raises(TooLarge, match="sharedIndexCopyMaxMb"):
        sync(uri, options, tmp_path / "a", 3, max_bytes=1000)
    assert mirrored_version(tmp_path / "a") is None  # no half copy left behind
    # A limit of 0: the worker never copies, and retrieval reads object storage.
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    index_dir = overlay_dir(str(tmp_path / "local-index"), uri)
    service = IndexService(dev, index_dir, {"shared_index": uri, "shared_index_options": HTTP,
                                            "shared_index_copy_max_mb": 0}, tuning=ServiceTuning(watch=False))
    service.start()
    try:
        assert service.wait_idle(120)
        reader = LayeredReader(index_dir, uri, HTTP)
        assert _paths(reader.symbols(["parse_http_response"])) == {"net/parser.py"}
        assert reader.describe()["reads"] == "object storage"
        assert service.status()["shared_index"]["local_copy"]["version"] is None
    finally:
        service.stop()


def test_vectors_built_by_ci_are_published_and_searched_from_the_copy(tmp_path: Path, aws: SeaweedServer) -> None:
    from tests.support.embedding import local_embedder, require_local_model

    require_local_model()
    ci = small_workspace(tmp_path / "ci")
    uri = f"s3://{aws.create_bucket()}/team"
    built = srag_index("build", str(ci), "--index-uri", uri, "--storage-option", "allow_http=true", "--embeddings",
                       "local", "--json", cache=tmp_path / "ci-cache", env=aws.environment())
    assert built.returncode == 0, built.stderr
    embedder = local_embedder()
    shared = json.loads(built.stdout)["shared"]
    assert shared["vector_models"] == [embedder.model_id] and shared["vectors_written"] == 12, shared
    again = srag_index("build", str(ci), "--index-uri", uri, "--storage-option", "allow_http=true", "--embeddings",
                       "local", "--json", cache=tmp_path / "ci-cache", env=aws.environment())
    assert json.loads(again.stdout)["shared"]["vectors_written"] == 0  # a vector never changes for its text
    status = srag_index("status", "--index-uri", uri, "--storage-option", "allow_http=true", "--json",
                        cache=tmp_path / "ci-cache", env=aws.environment())
    assert json.loads(status.stdout)["vectors"] == {embedder.model_id: 12}
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    index_dir = overlay_dir(str(tmp_path / "local-index"), uri)
    query = embedder.embed_query("turn the bytes of a web server's reply into a header map")
    direct = LayeredReader(str(tmp_path / "fresh-machine"), uri, HTTP)  # S3 directly
    assert direct.has_vectors(embedder.model_id)
    assert direct.vector_search(query, 2, model_id=embedder.model_id)[0].symbol == "parse_http_response"
    service = _service(dev, index_dir, uri)
    try:
        _copied(service)
        reader = LayeredReader(index_dir, uri, HTTP)
        hits = reader.vector_search(query, 2, model_id=embedder.model_id)
        assert reader.describe()["reads"] == "local copy" and hits[0].symbol == "parse_http_response", hits
    finally:
        service.stop()


def test_a_missing_bucket_and_another_schema_version_are_named_and_everything_is_indexed_here(
        tmp_path: Path, aws: SeaweedServer) -> None:
    import lancedb
    import pyarrow as pa

    from indexer.object_store import settings_options
    from indexer.shared_index import BUILDS, BUILDS_SCHEMA

    ci = small_workspace(tmp_path / "ci")
    dev = tmp_path / "dev"
    shutil.copytree(ci, dev)
    missing = "s3://no-such-bucket-for-srag/team"
    service = _service(dev, overlay_dir(str(tmp_path / "a"), missing), missing)
    try:
        shared = service.status()["shared_index"]
        assert shared["reachable"] is False and "does not exist" in str(shared["error"]), shared
        assert service.status()["files"] == 3  # nothing known of it: the whole workspace is indexed here
    finally:
        service.stop()
    uri = f"s3://{aws.create_bucket()}/old"
    _publish(ci, uri, aws, tmp_path / "ci-cache")
    builds = lancedb.connect(uri, storage_options=settings_options(HTTP)).open_table(BUILDS)
    builds.add(pa.Table.from_pylist([{"built_at": "2099-01-01T00:00:00+00:00", "commit": "", "schema_version": 99,
                                      "languages": "", "files": 0, "chunks": 0, "chunks_version": 1 << 40}],
                                    schema=BUILDS_SCHEMA))
    service = _service(dev, overlay_dir(str(tmp_path / "b"), uri), uri)
    try:
        shared = service.status()["shared_index"]
        assert shared["reachable"] is False and "schema version 99" in str(shared["error"]), shared
        assert f"srag-index build DIR --index-uri {uri}" in str(shared["error"])
        assert service.status()["files"] == 3 and shared["local_copy"]["version"] is None
    finally:
        service.stop()
