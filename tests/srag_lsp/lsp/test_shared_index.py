"""The daemon on a team's shared index: the real daemon, driven by a real LSP client (pytest-lsp), reads an index
that CI built into a real S3 server (SeaweedFS on loopback) with ``srag-index build --index-uri``.

Its worker indexes nothing that CI already indexed, retrieval finds the definitions in the shared index, and
``srag/indexStatus`` says which version it reads. No credential appears in anything the daemon says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.seaweed import SECRET_KEY, SeaweedServer
from tests.indexer.test_cli import srag_index
from tests.support.lsp import as_dict, inline_params, open_doc, server_env, start_client, stop_client, wait_ready
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.model
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "shop"


async def test_a_build_in_s3_is_found_by_a_daemon(tmp_path: Path, seaweed: SeaweedServer) -> None:
    ci = tmp_path / "ci" / "shop"
    shutil.copytree(EXAMPLES, ci)
    uri = f"s3://{seaweed.create_bucket()}/shop"
    built = srag_index("build", str(ci), "--index-uri", uri, "--storage-option", "allow_http=true",
                       cache=tmp_path / "ci-cache", env=seaweed.environment())
    assert built.returncode == 0, built.stderr
    root = tmp_path / "dev" / "shop"
    shutil.copytree(EXAMPLES, root)
    cache_dir = tmp_path / "cache"
    env = server_env(cache_dir, SRAG_INDEX_ENABLED="true", SRAG_SHARED_INDEX=uri,
                     SRAG_SHARED_INDEX_OPTIONS="allow_http=true", SRAG_MAX_TOKENS="20", **seaweed.environment())
    client, collected, _ = await start_client(root, env, {"streaming": True})
    try:
        await wait_ready(client)

        async def shared_read() -> dict | None:
            status = as_dict(await client.protocol.send_request_async("srag/indexStatus", {}))
            shared = status.get("shared_index") or {}
            return status if status.get("initial_build_done") and shared.get("version") else None

        status = await wait_until_async(shared_read, 120, "the shared index read", interval_s=0.2)
        shared = status["shared_index"]
        assert shared["uri"] == uri and shared["reachable"] is True and shared["files"] == 3, shared
        assert (shared["overlay_files"], shared["deleted_files"]) == (0, 0), shared  # nothing indexed twice
        assert status["chunks"] == 0, status
        text = (root / "checkout.py").read_text()
        doc = open_doc(client, root / "checkout.py", text)
        line = text.split("\n").index("    discounted = ")
        await client.text_document_inline_completion_async(inline_params(doc, line, 17))
        await collected.wait_for(lambda s: any(x.get("final") for x in s), timeout=180)
        context = as_dict(await client.protocol.send_request_async("srag/context", {}))
        assert "pricing.py" in {c["path"] for c in context["chunks"]}, context["chunks"]  # from the shared index
        said = json.dumps([status, context, [m.message for m in client.log_messages],
                           [m.message for m in client.messages]], default=str)
    finally:
        await stop_client(client)
    traces = (cache_dir / "traces" / "trace.jsonl").read_text()
    assert SECRET_KEY not in said and SECRET_KEY not in traces
