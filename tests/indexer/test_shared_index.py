"""A team's index on object storage, built by ``srag-index build DIR --index-uri s3://...`` into a real S3 server
(SeaweedFS on loopback, tests/support/seaweed.py) and read back with ``srag-index status --index-uri``.

Real parts throughout: the real command line in a subprocess, real LanceDB tables on real S3, real git.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import lancedb

from benchmarks.seaweed import SeaweedServer
from indexer.object_store import storage_options
from indexer.shared_index import BUILDS, FILES
from tests.indexer.test_cli import srag_index
from tests.support.indexing import small_workspace

HTTP = ("--storage-option", "allow_http=true")


def _git(root: Path) -> str:
    for command in (["init", "-q"], ["add", "-A"],
                    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first"]):
        subprocess.run(["git", "-C", str(root), *command], check=True)
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def _tables(seaweed: SeaweedServer, uri: str) -> dict[str, list[dict[str, object]]]:
    options = storage_options(["allow_http=true"], seaweed.environment())
    db = lancedb.connect(uri, storage_options=options)
    return {name: db.open_table(name).to_arrow().to_pylist() for name in ("chunks", FILES, BUILDS)}


def test_a_build_publishes_what_changed_with_its_commit_and_status_says_so(tmp_path: Path,
                                                                           seaweed: SeaweedServer) -> None:
    root = small_workspace(tmp_path / "ws")
    commit = _git(root)
    uri = f"s3://{seaweed.create_bucket()}/shop"
    env = seaweed.environment()
    first = srag_index("build", str(root), "--index-uri", uri, *HTTP, "--json", cache=tmp_path / "cache", env=env)
    assert first.returncode == 0, first.stderr
    shared = json.loads(first.stdout)["shared"]
    assert shared["commit"] == commit and shared["written_files"] == 3 and shared["removed_files"] == 0
    tables = _tables(seaweed, uri)
    assert {f["path"] for f in tables[FILES]} == {"shapes.py", "web/greeting.js", "net/parser.py"}
    assert all(len(str(f["content_hash"])) == 40 for f in tables[FILES])
    assert len(tables["chunks"]) == shared["chunks"] > 3 and not any(c["overlay"] for c in tables["chunks"])
    # One file changes, one goes: only those are written; a fresh machine (empty cache) writes the same.
    (root / "shapes.py").write_text((root / "shapes.py").read_text() + "\n\ndef hexagon(side):\n    return side * 6\n")
    (root / "web" / "greeting.js").unlink()
    second = srag_index("build", str(root), "--index-uri", uri, *HTTP, "--json", cache=tmp_path / "fresh", env=env)
    assert second.returncode == 0, second.stderr
    shared = json.loads(second.stdout)["shared"]
    assert (shared["written_files"], shared["removed_files"]) == (1, 1)
    tables = _tables(seaweed, uri)
    assert {c["path"] for c in tables["chunks"]} == {"shapes.py", "net/parser.py"}
    assert any(c["symbol"] == "hexagon" for c in tables["chunks"])
    ids = [c["id"] for c in tables["chunks"]]
    assert len(ids) == len(set(ids)) and len(tables[BUILDS]) == 2
    status = srag_index("status", "--index-uri", uri, *HTTP, "--json", cache=tmp_path / "cache", env=env)
    assert status.returncode == 0, status.stderr
    said = json.loads(status.stdout)
    assert said["commit"] == commit and said["files"] == 2 and said["chunks"] == len(ids)
    assert said["version"] > 1 and "symbol_idx" in said["indexes"]
    human = srag_index("status", "--index-uri", uri, *HTTP, cache=tmp_path / "cache", env=env)
    assert commit in human.stdout and "files" in human.stdout


def test_two_builders_at_once_leave_one_whole_table(tmp_path: Path, seaweed: SeaweedServer) -> None:
    root = small_workspace(tmp_path / "ws")
    uri = f"s3://{seaweed.create_bucket()}/race"
    env = seaweed.environment()
    results: dict[int, subprocess.CompletedProcess[str]] = {}

    def build(n: int) -> None:
        results[n] = srag_index("build", str(root), "--index-uri", uri, *HTTP, cache=tmp_path / f"cache{n}", env=env)

    threads = [threading.Thread(target=build, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results.values():  # each either committed or said clearly why not
        assert result.returncode == 0 or "another builder" in result.stderr, result.stderr
    assert any(r.returncode == 0 for r in results.values())
    tables = _tables(seaweed, uri)
    ids = [c["id"] for c in tables["chunks"]]
    assert ids and len(ids) == len(set(ids))  # no chunk twice
    assert sorted(f["path"] for f in tables[FILES]) == ["net/parser.py", "shapes.py", "web/greeting.js"]
    # The lease was given back: the next build publishes at once.
    after = srag_index("build", str(root), "--index-uri", uri, *HTTP, "--json", cache=tmp_path / "cache0", env=env)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["shared"]["written_files"] == 0


def test_bad_credentials_a_missing_bucket_and_no_server_are_each_said_without_a_secret(
        tmp_path: Path, seaweed: SeaweedServer) -> None:
    root = small_workspace(tmp_path / "ws")
    uri = f"s3://{seaweed.create_bucket()}/x"
    wrong = {**seaweed.environment(), "AWS_SECRET_ACCESS_KEY": "not-the-secret-91c2"}
    refused = srag_index("build", str(root), "--index-uri", uri, *HTTP, cache=tmp_path / "c1", env=wrong)
    assert refused.returncode == 3 and "refused the credentials" in refused.stderr, refused.stderr
    assert "not-the-secret-91c2" not in refused.stderr + refused.stdout
    missing = srag_index("build", str(root), "--index-uri", "s3://no-such-bucket-here/x", *HTTP, cache=tmp_path / "c2",
                         env=seaweed.environment())
    assert missing.returncode == 3 and "'no-such-bucket-here' does not exist" in missing.stderr, missing.stderr
    nothing = srag_index("status", "--index-uri", uri, *HTTP, cache=tmp_path / "c3", env=seaweed.environment())
    assert nothing.returncode == 1 and "nothing was published" in nothing.stderr
    down = {**seaweed.environment(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    unreachable = srag_index("status", "--index-uri", uri, *HTTP, cache=tmp_path / "c4", env=down)
    assert unreachable.returncode == 1 and "unreachable" in unreachable.stderr, unreachable.stderr
    secret = seaweed.environment()["AWS_SECRET_ACCESS_KEY"]
    for result in (refused, missing, nothing, unreachable):
        assert secret not in result.stderr + result.stdout


def test_an_index_built_by_another_schema_version_is_named_with_the_fix(tmp_path: Path, seaweed: SeaweedServer) -> None:
    import pyarrow as pa

    from indexer.shared_index import BUILDS_SCHEMA

    root = small_workspace(tmp_path / "ws")
    uri = f"s3://{seaweed.create_bucket()}/old"
    env = seaweed.environment()
    assert srag_index("build", str(root), "--index-uri", uri, *HTTP, cache=tmp_path / "c1", env=env).returncode == 0
    options = storage_options(["allow_http=true"], env)
    builds = lancedb.connect(uri, storage_options=options).open_table(BUILDS)
    builds.add(pa.Table.from_pylist([{"built_at": "2099-01-01T00:00:00+00:00", "commit": "", "schema_version": 99,
                                      "languages": "", "files": 0, "chunks": 0, "chunks_version": 1 << 40}],
                                    schema=BUILDS_SCHEMA))
    again = srag_index("build", str(root), "--index-uri", uri, *HTTP, cache=tmp_path / "c2", env=env)
    assert again.returncode == 3 and "built by index schema version 99" in again.stderr, again.stderr
    assert f"srag-index build DIR --index-uri {uri}" in again.stderr
