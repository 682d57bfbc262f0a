"""The product on a team's model server: the real daemon, driven by a real LSP client (pytest-lsp), on a real
llama.cpp llama-server (built from the llama.cpp llama-cpp-python vendors) serving the 0.5B, as backend
``llama-server`` (``/infill``) and as backend ``openai`` (its ``/v1/completions``).

Both stages, retrieval into the prompt, warm-ups where the API has them, traces and ``srag/status`` work as on
the embedded default. No fake anywhere.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.llama_server import running_llama_server
from tests.support.lsp import as_dict, inline_params, open_doc, server_env, start_client, stop_client, wait_ready
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.model
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "shop"


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    with running_llama_server() as server:
        yield server.url


async def _index_built(client: object) -> None:
    async def built() -> bool:
        status = as_dict(await client.protocol.send_request_async("srag/indexStatus", {}))  # type: ignore[attr-defined]
        return bool(status.get("initial_build_done"))

    await wait_until_async(built, 120, "the first index build", interval_s=0.1)


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
async def test_both_stages_warm_ups_traces_and_status_on_a_model_server(tmp_path: Path, llama_server: str,
                                                                        backend: str) -> None:
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLES, root)
    cache_dir = tmp_path / "cache"
    # The model's name on the server is its file's path (llama-server names a model by how it was loaded).
    from benchmarks.llama_server import model_file

    env = server_env(cache_dir, SRAG_BACKEND=backend, SRAG_LLAMA_SERVER_URL=llama_server,
                     SRAG_OPENAI_BASE_URL=f"{llama_server}/v1", SRAG_OPENAI_MODEL=str(model_file()),
                     SRAG_INDEX_ENABLED="true", SRAG_MAX_TOKENS="20", SRAG_RETRIEVAL_DELAY_MS="3000",
                     SRAG_RETRIEVAL_DEADLINE_MS="5000")
    client, collected, _ = await start_client(root, env, {"streaming": True})
    try:
        status = await wait_ready(client)
        served_by = llama_server if backend == "llama-server" else f"{llama_server}/v1"
        assert status["backend"] == backend and status["server"] == served_by and status["model"], status
        await _index_built(client)
        text = (root / "checkout.py").read_text()
        uri = open_doc(client, root / "checkout.py", text)
        line = text.split("\n").index("    discounted = ")
        await client.text_document_inline_completion_async(inline_params(uri, line, 17))
        await collected.wait_for(lambda s: any(x.get("final") for x in s), timeout=180)
        stages = [s["stage"] for s in collected.suggestions]
        assert stages[0] == "draft" and stages[-1] == "refined", stages  # retrieval arrived late: two stages
        assert collected.suggestions[-1]["text"].strip()
        context = as_dict(await client.protocol.send_request_async("srag/context", {}))
        assert {c["path"] for c in context["chunks"]} & {"pricing.py", "cart.py"}  # retrieval reached the prompt
        trace = context["trace"]
        assert trace["backend"] == backend and not trace["flags"].get("error"), trace
        # The cursor rests at another place: the daemon warms there. llama-server prefills (n_predict 0); the
        # completions API cannot, so nothing is evaluated there.
        client.protocol.notify("srag/cursor", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}})

        async def warmed() -> bool:
            return as_dict(await client.protocol.send_request_async("srag/status", {}))["warm_ups"]["runs"] >= 1

        await wait_until_async(warmed, 120, "a warm-up where the cursor rests", interval_s=0.2)
        warm_ups = as_dict(await client.protocol.send_request_async("srag/status", {}))["warm_ups"]
        assert (warm_ups["prompt_tokens"] > 0) == (backend == "llama-server"), warm_ups
    finally:
        await stop_client(client)
    traces = [json.loads(x) for x in (cache_dir / "traces" / "trace.jsonl").read_text().splitlines()]
    assert traces and all(t["backend"] == backend for t in traces if t.get("backend"))
