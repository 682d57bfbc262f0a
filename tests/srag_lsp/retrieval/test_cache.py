"""The retrieval cache: per-source entries keyed by file, scope and names; invalidated by re-indexed paths."""

from __future__ import annotations

from srag_lsp.retrieval.cache import RetrievalCache
from srag_lsp.retrieval.types import ContextChunk


def chunk(path: str) -> ContextChunk:
    return ContextChunk(path, 1, 2, "f", "function", "symbol", 1.0, "def f(): ...", "def f():", path)


def test_hit_and_miss_by_key():
    cache = RetrievalCache()
    key = cache.key("symbol", "app.py", "App.run", ("Request", "Session"))
    assert cache.get(key) is None
    cache.put(key, [chunk("models.py")])
    assert [c.path for c in cache.get(key)] == ["models.py"]
    assert cache.get(cache.key("symbol", "app.py", "App.stop", ("Request", "Session"))) is None
    assert cache.get(cache.key("fts", "app.py", "App.run", ("Request", "Session"))) is None
    assert (cache.hits, cache.misses) == (1, 3)


def test_invalidation_by_file_by_chunk_path_and_by_dependency():
    cache = RetrievalCache()
    own = cache.key("symbol", "app.py", "", ("a",))
    via_chunk = cache.key("symbol", "cli.py", "", ("b",))
    via_import = cache.key("imports", "web.py", "", ("c",))
    untouched = cache.key("symbol", "other.py", "", ("d",))
    cache.put(own, [chunk("x.py")])
    cache.put(via_chunk, [chunk("models.py")])
    cache.put(via_import, [chunk("y.py")], depends_on=["models.py"])
    cache.put(untouched, [chunk("z.py")])
    assert cache.invalidate(["models.py"]) == 2
    assert cache.get(via_chunk) is None and cache.get(via_import) is None
    assert cache.invalidate(["app.py"]) == 1
    assert cache.get(own) is None
    assert cache.get(untouched) is not None
    assert cache.invalidate(None) == 1
    assert len(cache) == 0


def test_entries_expire():
    now = [100.0]
    cache = RetrievalCache(ttl_s=5.0, clock=lambda: now[0])
    key = cache.key("symbol", "a.py", "", ())
    cache.put(key, [chunk("b.py")])
    now[0] += 4.0
    assert cache.get(key) is not None
    now[0] += 2.0
    assert cache.get(key) is None


def test_least_recently_used_is_evicted():
    cache = RetrievalCache(max_entries=2)
    keys = [cache.key("symbol", f"{i}.py", "", ()) for i in range(3)]
    cache.put(keys[0], [])
    cache.put(keys[1], [])
    assert cache.get(keys[0]) == []  # touch 0: 1 becomes the oldest
    cache.put(keys[2], [])
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) == [] and cache.get(keys[2]) == []
