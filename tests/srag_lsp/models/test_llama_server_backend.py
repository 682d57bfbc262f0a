"""The llama-server backend (and the OpenAI one) against a real llama.cpp llama-server serving the 0.5B, and the
llama-server routes of the scripted fault server for failures (its faults are the only fakes).

Nothing here checks a model's words: only that text streams, that the server's cache serves a repeated prompt,
that scores rank the model's own greedy text above text it would not write, and what each failure says.
"""

from __future__ import annotations

import asyncio
import contextlib
import math

import pytest

from srag_lsp.models.base import BackendError, FimParts, GenerationRequest, GenerationStats
from srag_lsp.models.llama_server_backend import LlamaServerBackend, gbnf_literal, mean_logprob
from srag_lsp.models.openai_backend import OpenAIBackend
from tests.support.openai_server import serve_openai
from tests.support.streams import collect

PARTS = FimParts("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n",
                 [("calc/ops.py", "def plus(x, y):\n    return x + y\n")])


def test_a_grammar_admits_exactly_the_text() -> None:
    assert gbnf_literal('a "b"\\\n\tc\x01') == 'root ::= "a \\"b\\"\\\\\\n\\tc\\x01"'


def test_the_mean_log_probability_covers_the_text_and_no_more() -> None:
    probabilities = [{"token": "a", "logprob": -1.0}, {"token": " +", "logprob": -2.0}, {"token": "", "logprob": -9.0}]
    assert mean_logprob(probabilities, "a +") == -1.5
    assert mean_logprob([{"token": "a"}], "a") is None  # no probabilities: the caller cannot score


@pytest.mark.model
async def test_infill_streams_and_the_server_cache_serves_a_repeated_prompt(llama_server: str) -> None:
    backend = LlamaServerBackend(url=llama_server)
    await backend.start()
    try:
        assert backend.info.backend == "llama-server" and backend.info.fim and backend.warnings == []
        assert backend.info.model.endswith(".gguf") and backend.info.detail == llama_server
        request = GenerationRequest("(unused: the parts go to /infill)", max_tokens=8, stop=["\n"], fim=PARTS)
        stats = GenerationStats()
        text = await collect(backend, request, stats)
        assert text.strip() and "\n" not in text
        assert stats.prompt_tokens > 20 and stats.generated_tokens >= 1 and stats.finish_reason in ("stop", "length")
        again = GenerationStats()
        await collect(backend, request, again)
        assert again.prompt_evaluated <= 2 < again.prompt_tokens  # the server's KV cache held the prompt
        # A generation stopped at its first piece (as the engine stops a superseded one) still says what the
        # prompt cost, and the server stops.
        stopped = GenerationStats()
        stream = backend.stream(GenerationRequest("", max_tokens=64, fim=PARTS), stopped)
        assert await anext(stream)
        await stream.aclose()
        assert stopped.finish_reason == "cancelled" and stopped.prompt_tokens > 20
    finally:
        await backend.close()


@pytest.mark.model
async def test_a_warm_up_prefills_without_generating_and_scores_rank_the_models_own_text(llama_server: str) -> None:
    backend = LlamaServerBackend(url=llama_server)
    await backend.start()
    try:
        fresh = FimParts("import os\n\n\ndef home():\n    return os.", "\n", [("notes.md", "# notes\n" * 20)])
        assert await backend.prefill("", num_ctx=4096, max_tokens=16, fim=fresh) > 40
        assert await backend.prefill("", num_ctx=4096, max_tokens=16, fim=fresh) <= 2
        greedy = await collect(backend, GenerationRequest("", max_tokens=6, stop=["\n"], fim=fresh), GenerationStats())
        assert greedy.strip()
        scores = await backend.score("", [greedy, "zq_unlikely(", ""], fim=fresh)
        assert scores is not None and all(math.isfinite(s) for s in scores[:2]) and scores[2] == -math.inf
        assert scores[0] > scores[1]
    finally:
        await backend.close()


@pytest.mark.model
async def test_typing_reuses_the_servers_cache_for_the_draft_and_the_refinement_alike(llama_server: str) -> None:
    """Keystrokes alternate the draft's prompt (no context) and the refinement's (with context), as the engine does.
    Each backend keeps its own server slot, so each keystroke evaluates only what it added: without that the
    server chose slots by recency and evaluated every prompt in full."""
    from srag_lsp.models.server_gate import ServerGate

    draft = LlamaServerBackend(url=llama_server)
    await draft.start()
    refine = LlamaServerBackend(url=llama_server, gate=draft.gate)
    await refine.start()
    refine.sibling, draft.sibling = draft, refine
    assert isinstance(draft.gate, ServerGate) and draft.total_slots >= 2
    try:
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))
        context = [("ops.py", "".join(f"def g{i}(y):\n    return y * {i}\n\n" for i in range(40)))]
        evaluated = []
        for n in range(6):
            backend, extra = (draft, []) if n % 2 == 0 else (refine, context)
            stats = GenerationStats()
            fim = FimParts(body + "value = f" + "1" * n, "\n", extra)
            await collect(backend, GenerationRequest("", max_tokens=2, fim=fim), stats)
            evaluated.append(stats.prompt_evaluated)
        assert draft.slot != refine.slot and min(draft.slot, refine.slot) >= 0
        assert all(e <= 8 for e in evaluated[2:]), evaluated  # the first of each kind is evaluated in full
        assert min(evaluated[:2]) > 100
    finally:
        await draft.close()
        await refine.close()


@pytest.mark.model
async def test_the_openai_backend_speaks_to_llama_servers_completions(llama_server: str) -> None:
    probe = LlamaServerBackend(url=llama_server)
    await probe.start()
    model = probe.info.model
    await probe.close()
    backend = OpenAIBackend(base_url=f"{llama_server}/v1", model=model)
    await backend.start()
    try:
        stats = GenerationStats()
        prompt = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
        text = await collect(backend, GenerationRequest(prompt, max_tokens=8, stop=["\n"]), stats)
        assert text.strip() and stats.generated_tokens >= 1 and stats.prompt_tokens > 5
    finally:
        await backend.close()


@pytest.mark.model
@pytest.mark.parametrize(("fault", "said"), [
    ("server_error", "failed \\(HTTP 500\\)"),
    ("die_after=2", "broke off the stream"),
    ("unauthorized", "HTTP 401"),
])
async def test_faults_are_said_and_the_next_request_works(fault: str, said: str) -> None:
    with serve_openai(["qwen2.5-coder-0.5b"]) as (url, state):
        backend = LlamaServerBackend(url=url)
        await backend.start()
        try:
            state.fault = fault
            with pytest.raises(BackendError, match=said):
                await collect(backend, GenerationRequest("", max_tokens=8, fim=PARTS), GenerationStats())
            state.fault = ""
            assert (await collect(backend, GenerationRequest("", max_tokens=4, fim=PARTS), GenerationStats())).strip()
            path, body = state.bodies[-1]
            assert path == "/infill" and body["input_extra"] == [{"filename": "calc/ops.py", "text": PARTS.extra[0][1]}]
            assert body["cache_prompt"] is True and body["stream"] is True
        finally:
            await backend.close()


@pytest.mark.model
async def test_a_long_prompt_the_slot_lacks_goes_in_pieces_and_a_keystroke_goes_whole() -> None:
    """A refinement's prompt is sent as pieces (``n_predict: 0``), each the start of the next, so a draft can go
    between two of them; once the slot holds it, a keystroke's request goes alone."""
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(20))
    context = [("ops.py", "".join(f"def g{i}(y):\n    return y * {i}\n\n" for i in range(20)))]
    long = FimParts(body + "value = f1", "\n", context)
    with serve_openai(["qwen2.5-coder-0.5b"]) as (url, state):
        backend = LlamaServerBackend(url=url)
        await backend.start()
        try:
            before = len(state.bodies)
            await collect(backend, GenerationRequest("", max_tokens=2, fim=long), GenerationStats())
            staged, last = [b for _, b in state.bodies[before:-1]], state.bodies[-1][1]
            assert len(staged) >= 3 and all(b["n_predict"] == 0 and not b.get("stream") for b in staged)
            assert all(b["id_slot"] == last["id_slot"] for b in staged) and last["stream"] is True
            assert staged[0]["input_prefix"] == "" and staged[-1]["input_prefix"]  # context files first
            assert body.startswith(staged[-1]["input_prefix"])
            assert last["input_extra"] == [{"filename": "ops.py", "text": context[0][1]}]
            assert backend.cached_share("", fim=long) == 1.0 and backend.cached_share("") is None
            assert backend.cached_share("", fim=PARTS) < 0.2  # another place: the engine drafts there first
            before = len(state.bodies)
            keystroke = FimParts(long.prefix + "0", "\n", context)
            await collect(backend, GenerationRequest("", max_tokens=2, fim=keystroke), GenerationStats())
            assert len(state.bodies) == before + 1
        finally:
            await backend.close()


@pytest.mark.model
async def test_a_failure_while_sending_pieces_is_said_once_and_the_next_request_works() -> None:
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(20))
    long = FimParts(body + "value = f1", "\n", [("ops.py", body.replace("def f", "def g"))])
    with serve_openai(["qwen2.5-coder-0.5b"]) as (url, state):
        backend = LlamaServerBackend(url=url)
        await backend.start()
        try:
            state.fault = "server_error"
            stats = GenerationStats()
            with pytest.raises(BackendError, match="failed \\(HTTP 500\\)"):
                await collect(backend, GenerationRequest("", max_tokens=2, fim=long), stats)
            assert stats.finish_reason == "error" and state.bodies[-1][1]["n_predict"] == 0  # a piece failed
            assert backend.cached_share("", fim=long) == 0.0  # nothing is believed held
            state.fault = ""
            again = GenerationStats()
            await collect(backend, GenerationRequest("", max_tokens=2, fim=long), again)
            assert again.finish_reason in ("stop", "length") and again.generated_tokens >= 1
            assert backend.cached_share("", fim=long) == 1.0 and not backend.gate.busy()
        finally:
            await backend.close()


@pytest.mark.model
async def test_a_request_closed_before_its_first_token_keeps_the_gate_until_the_server_is_done() -> None:
    """The engine gives up on a request while the server still evaluates its prompt: the next request is not sent
    until the server is done with it (it would only queue there, and the server would start them together)."""
    with serve_openai(["qwen2.5-coder-0.5b"]) as (url, state):
        backend = LlamaServerBackend(url=url)
        await backend.start()
        try:
            state.fault = "stall"
            first = asyncio.ensure_future(collect(backend, GenerationRequest("", max_tokens=8, fim=PARTS),
                                                  GenerationStats()))
            for _ in range(500):
                if state.stalled:
                    break
                await asyncio.sleep(0.02)
            first.cancel()  # superseded before its first token
            with contextlib.suppress(asyncio.CancelledError):
                await first
            assert backend.gate.settling()
            state.fault = ""
            sent = len(state.bodies)
            second = asyncio.ensure_future(collect(backend, GenerationRequest("", max_tokens=4, fim=PARTS),
                                                   GenerationStats()))
            await asyncio.sleep(0.3)
            assert len(state.bodies) == sent and not second.done()  # it waits for the server, not only for us
            state.stall_release.set()
            assert (await asyncio.wait_for(second, 60)).strip() and len(state.bodies) == sent + 1
            assert not backend.gate.settling()
        finally:
            state.stall_release.set()
            await backend.close()


async def test_nothing_there_is_said_with_the_address() -> None:
    backend = LlamaServerBackend(url="http://127.0.0.1:9")
    with pytest.raises(BackendError, match=r"no model server at http://127.0.0.1:9 \(connection refused\)"):
        await backend.start()
    await backend.close()
