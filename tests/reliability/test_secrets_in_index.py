"""Secrets never reach the index: planted keys are absent from every column of every table and every file.

The index is built by the real builder (in this process and with the process pool), over a workspace where
a fake AWS key, a private key and a token sit in an ordinary `settings_local.py`, in a string inside an
ordinary module, in an unsaved buffer (an overlay), and in files whose names say "secret" (never read).
"""

from __future__ import annotations

from pathlib import Path

import lancedb
import pytest

from indexer.build_options import BuildOptions
from indexer.builder import IndexBuilder
from indexer.opening import open_index
from indexer.query import IndexReader
from tests.indexer.test_secrets import AWS_KEY, GITHUB_TOKEN, PRIVATE_KEY

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Lm3Nv5Bx"
KEY_BODY = PRIVATE_KEY.split("\n")[1]
NEEDLES = (AWS_KEY, AWS_SECRET, GITHUB_TOKEN, KEY_BODY)


def _workspace(root: Path) -> None:
    files = {
        "myapp/settings_local.py": (
            f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n'
            f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n'
            f'DEPLOY_KEY = """\n{PRIVATE_KEY}\n"""\n\n\n'
            "def database_url() -> str:\n"
            '    return "sqlite:///app.db"\n'
        ),
        "myapp/client.py": (
            "import github\n\n\n"
            "class Client:\n"
            '    """Talks to the forge."""\n\n'
            "    def connect(self):\n"
            f'        return github.Github("{GITHUB_TOKEN}", base_url="https://api.github.com")\n\n'
            "    def boto(self):\n"
            f'        return make_session(key="{AWS_KEY}")\n'
        ),
        "myapp/plain.py": "def add(a, b):\n    return a + b\n",
        ".env": f"AWS_ACCESS_KEY_ID={AWS_KEY}\n",
        "deploy/id_rsa": PRIVATE_KEY + "\n",
        "config/credentials.py": f'KEY = "{AWS_KEY}"\n',
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _assert_no_needle_anywhere(index_dir: Path) -> int:
    """Every column of every table (as text), and every file's bytes: no needle. Returns the rows read."""
    rows = 0
    db = lancedb.connect(str(index_dir))
    listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    names = list(getattr(listing, "tables", listing))
    assert "chunks" in names
    for name in names:
        table = db.open_table(name).to_arrow()
        rows += table.num_rows
        for column in table.column_names:
            for value in table.column(column).to_pylist():
                text = str(value)
                for needle in NEEDLES:
                    assert needle not in text and needle.lower() not in text.lower(), (name, column)
    for path in index_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in NEEDLES:
                assert needle.encode() not in data and needle.lower().encode() not in data.lower(), path
    return rows


@pytest.mark.parametrize("processes", [1, 2])
def test_planted_secrets_are_in_no_column_and_no_file(tmp_path: Path, processes: int) -> None:
    root, index_dir = tmp_path / "ws", tmp_path / "index"
    _workspace(root)
    builder = IndexBuilder(
        root, open_index(str(index_dir)), BuildOptions(processes=processes, parallel_min_files=1, files_per_task=1)
    )
    report = builder.build()
    assert report.errors == 0 and report.indexed == 3  # the secret-named files are not even read
    assert sorted(builder.manifest.files) == ["myapp/client.py", "myapp/plain.py", "myapp/settings_local.py"]

    # an unsaved buffer with a new key is redacted too
    buffer = (root / "myapp/plain.py").read_text() + f'\nSTRIPE = "{GITHUB_TOKEN}"\n'
    assert builder.write_overlay("myapp/plain.py", buffer) > 0
    builder.finish_writes()

    assert _assert_no_needle_anywhere(index_dir) > 0
    reader = IndexReader.open(str(index_dir))
    assert reader is not None
    hit = reader.symbols(["AWS_ACCESS_KEY_ID"], 3)
    assert hit and "«redacted»" in hit[0].text  # the definition is still found, without its value
    assert reader.symbols(["connect"], 3)  # and the code around the secrets is indexed as usual

