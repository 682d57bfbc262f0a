"""Secrets recognised by content (detect-secrets' detectors, offline) and redacted, line structure kept."""

from __future__ import annotations

from indexer.chunker import chunk_file
from indexer.secrets import REDACTED, find_secrets, redact, redact_chunk

AWS_KEY = "AKIA" + "Q3EXAMPLE7TESTKEY"[:16]
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PRIVATE_KEY = "\n".join(
    [
        "-----BEGIN RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAx7uA0d3Zk2pLqf8Yt5vR9sWm3nJhQe1oKcTbU6iVyD4aXgFz",
        "qW8eR2tY5uI7oP9aS1dF3gH5jK7lZ9xC2vB4nM6Lq0Wz8Xy3Tt5Rr7Ee9Uu1Ii3",
        "-----END RSA PRIVATE KEY-----",
    ]
)


def test_cloud_keys_tokens_and_passwords_are_redacted() -> None:
    text = "\n".join(
        [
            f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"',
            f'client = Github(token="{GITHUB_TOKEN}")',
            'DB_PASSWORD = "correct-horse-battery"',
            'url = "postgres://app:s3cretPw0rd@db.internal/app"',
        ]
    )
    redacted = redact(text, "settings_local.py")
    for secret in (AWS_KEY, GITHUB_TOKEN, "correct-horse-battery", "s3cretPw0rd"):
        assert secret not in redacted
    assert redacted.count(REDACTED) == 4
    assert redacted.splitlines()[0] == f'AWS_ACCESS_KEY_ID = "{REDACTED}"'  # the name stays, the value goes
    assert "postgres://app:" in redacted  # only the password of the URL
    assert len(redacted.splitlines()) == len(text.splitlines())


def test_a_private_key_block_is_redacted_whole_and_keeps_its_lines() -> None:
    text = f'KEY = """\n{PRIVATE_KEY}\n"""\nx = 1\n'
    redacted = redact(text, "deploy.py")
    assert "MIIEow" not in redacted and "qW8eR2" not in redacted
    assert redacted.split("\n") == ["KEY = \"\"\"", *[REDACTED] * 4, '"""', "x = 1", ""]


def test_the_body_of_a_key_cut_from_its_header_is_redacted() -> None:
    """A completion window or a split chunk may start inside a key."""
    body = "\n".join(PRIVATE_KEY.split("\n")[1:])
    assert "MIIEow" not in redact(body, "deploy.py")


def test_ordinary_code_is_left_alone() -> None:
    code = "\n".join(
        [
            "def get_password(user: str) -> str:",
            '    """Ask the vault for the password of user."""',
            "    password = vault.lookup(user)",
            '    key = f"{user}:{region}"',
            '    request_id = "123e4567-e89b-12d3-a456-426614174000"',
            '    alphabet = "abcdefghijklmnopqrstuvwxyz"',
            "    return password",
        ]
    )
    assert redact(code, "vault.py") == code
    assert find_secrets(code, "vault.py") == []


def test_a_chunk_loses_the_secret_in_every_field() -> None:
    source = f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n\n\ndef connect():\n    return boto3.client(key="{AWS_KEY}")\n'
    chunks = chunk_file("settings_local.py", source).chunks
    assert any(AWS_KEY in c.text for c in chunks)
    for chunk in chunks:
        clean = redact_chunk(chunk)
        for name in ("text", "signature", "symbol", "qualified_name", "scope", "tokens"):
            value = getattr(clean, name)
            assert AWS_KEY not in value and AWS_KEY.lower() not in value, name
        assert all(AWS_KEY not in v for v in [*clean.defines, *clean.uses])
        if clean.text != chunk.text:
            assert clean.content_hash != chunk.content_hash  # no hash of the secret-bearing text is kept
            assert (clean.start_line, clean.end_line, clean.id) == (chunk.start_line, chunk.end_line, chunk.id)
        else:
            assert clean is chunk


def test_redaction_is_stable_for_a_moving_window() -> None:
    """The same line redacts the same way wherever the window starts (the per-line cache must not drift)."""
    lines = [f"value_{i} = compute({i})" for i in range(80)]
    lines[40] = f'TOKEN = "{GITHUB_TOKEN}"'
    for start in range(0, 30, 7):
        window = "\n".join(lines[start : start + 60])
        out = redact(window, "a.py").split("\n")
        assert out[40 - start] == f'TOKEN = "{REDACTED}"'
        assert [line for i, line in enumerate(out) if i != 40 - start] == [
            line for i, line in enumerate(lines[start : start + 60]) if i != 40 - start
        ]
