"""The embedded backend with the real model: tokens, stop sequences, UTF-8, prefix reuse, cancellation, stdout."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from srag_lsp.common_prefix import common_prefix_length
from srag_lsp.completion.policy import as_written
from srag_lsp.models import llama_kv
from srag_lsp.models.base import BackendError, GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EVAL_BATCH, WARM_BATCH, EmbeddedBackend
from srag_lsp.models.llama_slots import common_token_prefix
from srag_lsp.models.text_assembly import TextAssembler
from tests.support.streams import collect
from tests.support.waiting import wait_until_async

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
REPO = Path(__file__).resolve().parents[3]


def test_assembler_keeps_characters_whole() -> None:
    text = TextAssembler([])
    data = "é€😀".encode()
    pieces = [text.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(pieces) == "é€😀"
    assert all("\ufffd" not in p for p in pieces)
    assert pieces[:2] == ["", "é"]  # nothing until the character is complete


def test_assembler_holds_back_a_possible_stop_and_cuts_it() -> None:
    text = TextAssembler(["\n\n", "<|end|>"])
    assert text.feed(b"foo(") == "foo("
    assert text.feed(b"x)\n") == "x)"  # the newline may start "\n\n": held back
    assert text.feed(b"y") == "\ny"  # it did not
    assert text.feed(b"<|e") == ""
    assert text.feed(b"nd|> tail") == ""
    assert text.stopped and text.text == "foo(x)\ny"
    unfinished = TextAssembler(["STOP"])
    assert unfinished.feed(b"abc ST") == "abc "
    assert unfinished.flush() == "ST"  # released when the stream ends without the stop


def _held_of(backend: EmbeddedBackend, tokens: list[int]) -> int:
    """How many of ``tokens`` (from the start) the backend's KV cache holds now (read while its worker runs)."""
    assert backend._slot is not None
    return common_token_prefix(llama_kv.held_tokens(backend._slot.llm), tokens)


@pytest.mark.model
async def test_real_tokens_and_stats(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()
    text = await collect(qwen, GenerationRequest(FIM, max_tokens=8), stats)
    assert text.strip()  # the model's exact words depend on the CPU and the build flags; that it writes does not
    assert stats.generated_tokens == 8 and stats.finish_reason == "length"
    assert stats.prompt_tokens == len(qwen.tokenize(FIM)) and 0 < stats.prompt_evaluated <= stats.prompt_tokens
    assert stats.prompt_eval_ms > 0 and stats.generation_ms > 0
    assert qwen.info.fim and qwen.info.backend == "embedded" and qwen.warnings == []


@pytest.mark.model
async def test_a_generation_frees_its_sampler(qwen: EmbeddedBackend) -> None:
    """llama-cpp-python leaves each generation's sampler on the model, in a reference cycle that only a full GC
    pass frees (issue 23: the daemon's RSS grew by them): the backend frees it when the generation ends."""
    import gc
    import weakref

    from llama_cpp._internals import LlamaSampler

    from srag_lsp.models import llama_kv

    gc.disable()
    try:
        await collect(qwen, GenerationRequest(FIM, max_tokens=4), GenerationStats())
        assert qwen._slot is not None and qwen._slot.llm._sampler is None
        holder = type("Holder", (), {})()
        holder._sampler = LlamaSampler()
        freed = weakref.ref(holder._sampler)
        llama_kv.release_sampler(holder)
        assert freed() is None  # by reference counting, without the cyclic GC
    finally:
        gc.enable()


@pytest.mark.model
async def test_the_line_the_model_writes_scores_above_one_it_would_not_write(qwen: EmbeddedBackend) -> None:
    """What the refine policy's scored comparison rests on, in any build: under a prompt, the model's own greedy
    line (scored as written, with its line break) scores above a line it would not write."""
    written = (await collect(qwen, GenerationRequest(FIM, max_tokens=12), GenerationStats())).split("\n", 1)[0]
    assert written.strip()
    ours, other = await qwen.score(FIM, [as_written(written, ""), as_written("zq_unheard_of(b, a, a)", "")])
    assert ours > other and ours <= 0.0


@pytest.mark.model
async def test_stop_sequence_cuts_the_text(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()
    text = await collect(qwen, GenerationRequest(FIM, max_tokens=24, stop=["\n"]), stats)
    assert text.strip() and "\n" not in text
    assert stats.finish_reason == "stop" and stats.generated_tokens < 24


@pytest.mark.model
async def test_multibyte_output_arrives_whole(qwen: EmbeddedBackend) -> None:
    prompt = "# 中文注释：这个函数计算两个数的和，并返回结果。\n# 中文注释："
    pieces = []
    async for piece in qwen.stream(GenerationRequest(prompt, max_tokens=16), GenerationStats()):
        pieces.append(piece)
    text = "".join(pieces)
    assert any(ord(c) > 0x2E80 for c in text), text  # the model answered in Chinese
    assert "\ufffd" not in text
    for piece in pieces:
        piece.encode("utf-8")  # each piece is valid text on its own (no lone surrogates)


@pytest.mark.model
async def test_prompt_that_extends_the_previous_one_reuses_the_cache(qwen: EmbeddedBackend) -> None:
    base = "<|fim_prefix|>import os\n\n\ndef list_python_files(folder):\n    "
    first = GenerationStats()
    await collect(qwen, GenerationRequest(base + "<|fim_suffix|><|fim_middle|>", max_tokens=2), first)
    second = GenerationStats()
    extended = base + "result = []\n    " + "<|fim_suffix|><|fim_middle|>"
    await collect(qwen, GenerationRequest(extended, max_tokens=2), second)
    assert second.prompt_tokens > first.prompt_tokens
    assert second.prompt_evaluated < second.prompt_tokens // 2, second
    again = GenerationStats()
    await collect(qwen, GenerationRequest(extended, max_tokens=2), again)
    assert again.prompt_evaluated == 1  # the same prompt: only the last token, for fresh logits
    changed = GenerationStats()
    await collect(qwen, GenerationRequest("# other\n" + extended, max_tokens=2), changed)
    assert changed.prompt_evaluated == changed.prompt_tokens  # a change at the start costs everything


@pytest.mark.model
async def test_prefill_warms_the_cache_and_a_generation_preempts_it(qwen: EmbeddedBackend) -> None:
    prompt = "<|fim_prefix|># warm-up\n" + "".join(f"row_{i} = table.lookup({i})\n" for i in range(30))
    prompt += "<|fim_suffix|><|fim_middle|>"
    evaluated = await qwen.prefill(prompt, num_ctx=4096, max_tokens=64)
    assert evaluated > 100
    stats = GenerationStats()
    await collect(qwen, GenerationRequest(prompt, max_tokens=1), stats)
    assert stats.prompt_evaluated == 1  # all but the last token were already there
    # A long warm-up, then a generation: the warm-up stops at its next small batch and keeps what it did.
    other = "<|fim_prefix|># another warm-up\n" + "value = 1\n" * 300 + "<|fim_suffix|><|fim_middle|>"
    other_tokens = qwen.tokenize(other)
    warm = asyncio.create_task(qwen.prefill(other, num_ctx=4096, max_tokens=64))
    await wait_until_async(lambda: _held_of(qwen, other_tokens) >= 2 * WARM_BATCH, 120,
                           "the warm-up a few batches in")
    text = await collect(qwen, GenerationRequest(FIM, max_tokens=2), GenerationStats())
    assert text
    assert await warm < len(qwen.tokenize(other)) - 1  # preempted before the end


@pytest.mark.model
async def test_every_slot_runs_its_jobs_on_one_model_thread(qwen: EmbeddedBackend) -> None:
    """llama.cpp computes with OpenMP, one thread team per calling thread: the draft and refine slots must not each
    bring their own team (measured, it doubled every decode's time on 2 cores), so all jobs run on one thread."""
    other = qwen.with_slot("tests-thread")
    await other.start()
    assert qwen._slot is not None and other._slot is not None and other._slot is not qwen._slot
    loop = asyncio.get_running_loop()
    idents = {await loop.run_in_executor(slot.executor, threading.get_ident) for slot in (qwen._slot, other._slot)}
    assert len(idents) == 1
    # Jobs of both slots still work one after the other.
    for backend in (qwen, other):
        assert (await collect(backend, GenerationRequest(FIM, max_tokens=3), GenerationStats())).strip()


def test_common_prefix_length() -> None:
    assert common_prefix_length("", "abc") == 0
    assert common_prefix_length("abcdef", "abcxyz") == 3
    assert common_prefix_length("abc", "abc") == 3
    assert common_prefix_length("abc", "abcdef") == 3
    assert common_prefix_length("x" * 5000 + "a", "x" * 5000 + "b") == 5000
    assert common_prefix_length(b"abc", b"abd") == 2


@pytest.mark.model
async def test_cached_share_follows_what_the_kv_cache_holds(qwen: EmbeddedBackend) -> None:
    prompt = "<|fim_prefix|># cached share\ndef mean(values):\n    <|fim_suffix|><|fim_middle|>"
    await collect(qwen, GenerationRequest(prompt, max_tokens=1), GenerationStats())
    assert qwen.cached_share(prompt) == 1.0
    held, total = qwen.cached_tokens(prompt)
    assert held == total
    longer = prompt + "# and more text after it, which the cache does not hold yet\n" * 3
    assert 0.2 < qwen.cached_share(longer) < 0.6
    assert qwen.cached_share("# something else entirely\n" + prompt) == 0.0
    # A generation cancelled before its prompt was evaluated leaves only the common part claimed as held.
    other = "<|fim_prefix|># cached share, another prompt\n" + "x = 1\n" * 400 + "<|fim_suffix|><|fim_middle|>"
    other_stats = GenerationStats()
    stream = qwen.stream(GenerationRequest(other, max_tokens=50), other_stats)
    task = asyncio.ensure_future(stream.__anext__())
    other_tokens = qwen.tokenize(other)
    await wait_until_async(lambda: other_stats.prompt_evaluated and _held_of(qwen, other_tokens) > 8, 120,
                           "the prompt's evaluation under way")
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    await stream.aclose()
    assert qwen.cached_share(other) < 0.1
    await collect(qwen, GenerationRequest(prompt, max_tokens=1), GenerationStats())  # waits for the slot
    assert qwen.cached_share(prompt) == 1.0


@pytest.mark.model
async def test_closing_the_stream_stops_generation(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()
    stream = qwen.stream(GenerationRequest("# A long story about the sea\n", max_tokens=300), stats)
    pieces = 0
    async for _ in stream:
        pieces += 1
        if pieces == 3:
            break
    await stream.aclose()
    assert stats.finish_reason == "cancelled"
    # The worker notices the flag before its next token; the next request then gets the model.
    await collect(qwen, GenerationRequest(FIM, max_tokens=2), GenerationStats())
    assert stats.finish_reason == "cancelled"
    assert stats.generated_tokens <= 6


@pytest.mark.model
async def test_task_cancellation_stops_generation(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()

    async def consume() -> None:
        async for _ in qwen.stream(GenerationRequest("# Another long story\n", max_tokens=300), stats):
            pass

    task = asyncio.create_task(consume())
    await wait_until_async(lambda: stats.generated_tokens >= 2, 120, "two tokens generated")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await collect(qwen, GenerationRequest(FIM, max_tokens=1), GenerationStats())
    assert stats.finish_reason == "cancelled" and stats.generated_tokens <= 8


@pytest.mark.model
async def test_prompt_work_done_before_a_cancel_is_kept(qwen: EmbeddedBackend) -> None:
    """Cancelled during prompt evaluation: the batches already evaluated stay in the KV cache for the next prompt."""
    prompt = "<|fim_prefix|>" + "".join(f"value_{i} = compute({i}, scale={i * 3})\n" for i in range(40))
    prompt += "<|fim_suffix|><|fim_middle|>"
    stats = GenerationStats()
    task = asyncio.create_task(collect(qwen, GenerationRequest(prompt, max_tokens=4), stats))
    await wait_until_async(lambda: stats.prompt_evaluated, 120, "the prompt's evaluation started")
    assert stats.prompt_evaluated > 200
    reused = stats.prompt_tokens - stats.prompt_evaluated
    assert qwen._slot is not None
    slot = qwen._slot
    await wait_until_async(lambda: llama_kv.cached_count(slot.llm) >= reused + 3 * EVAL_BATCH, 120,
                           "a few batches of EVAL_BATCH tokens evaluated")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    again = GenerationStats()
    await collect(qwen, GenerationRequest(prompt, max_tokens=1), again)
    assert stats.finish_reason == "cancelled"
    assert again.prompt_evaluated < stats.prompt_evaluated, (stats, again)  # not evaluated from scratch


@pytest.mark.model
async def test_a_request_cancelled_while_queued_never_runs(qwen: EmbeddedBackend) -> None:
    """One sequence: a second request waits for the first; cancelled meanwhile, it evaluates nothing."""
    first_stats, queued_stats = GenerationStats(), GenerationStats()
    first = asyncio.create_task(collect(qwen, GenerationRequest("# tale\n", max_tokens=12), first_stats))
    await wait_until_async(lambda: first_stats.generated_tokens >= 1, 120, "the first request generating")
    queued = asyncio.create_task(collect(qwen, GenerationRequest("# x\n" * 50, max_tokens=12), queued_stats))
    assert qwen._slot is not None
    work = qwen._slot.executor._work_queue  # the slot's one worker runs the first; the second waits here
    await wait_until_async(lambda: work.qsize() >= 1, 60, "the second request queued for the slot")
    assert not first.done()
    queued.cancel()
    assert await first
    with pytest.raises(asyncio.CancelledError):
        await queued
    await collect(qwen, GenerationRequest(FIM, max_tokens=1), GenerationStats())
    assert queued_stats.finish_reason == "cancelled" and queued_stats.prompt_tokens == 0


@pytest.mark.model
async def test_draft_model_without_fim(gemma: EmbeddedBackend) -> None:
    stats = GenerationStats()
    text = await collect(gemma, GenerationRequest("def fibonacci(n):\n", max_tokens=12), stats)
    assert text.strip() and stats.generated_tokens >= 1
    assert not gemma.info.fim and "fill-in-the-middle" in gemma.warnings[0]


@pytest.mark.model
def test_loading_never_writes_to_stdout(tmp_path: Path) -> None:
    """stdout carries the LSP protocol: lines another thread writes while the model loads all arrive."""
    script = textwrap.dedent(
        """
        import asyncio, os, sys, threading, time
        from srag_lsp.models.embedded import EmbeddedBackend
        from srag_lsp.models.base import GenerationRequest
        from srag_lsp.settings import default_model_dir
        stop = threading.Event()
        count = 0
        def writer():
            global count
            while not stop.is_set():
                os.write(1, b"frame %d\\n" % count)
                count += 1
                time.sleep(0.001)
        thread = threading.Thread(target=writer)
        thread.start()
        async def main():
            backend = EmbeddedBackend("qwen2.5-coder-0.5b", model_dir=default_model_dir(), n_ctx=1024)
            await backend.start()
            async for _ in backend.stream(GenerationRequest("x = 1\\n", max_tokens=2)):
                pass
        asyncio.run(main())
        stop.set()
        thread.join()
        sys.stderr.write(f"wrote {count}\\n")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    wrote = int(done.stderr.decode().strip().splitlines()[-1].split()[1])
    lines = done.stdout.decode().splitlines()
    assert wrote > 10
    assert lines == [f"frame {i}" for i in range(wrote)]


async def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    backend = EmbeddedBackend(str(tmp_path / "missing.gguf"), model_dir=tmp_path)
    with pytest.raises(BackendError, match="does not exist"):
        await backend.start()
    with pytest.raises(BackendError, match="not loaded"):
        async for _ in backend.stream(GenerationRequest("x")):
            pass


async def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 100)
    backend = EmbeddedBackend(str(bogus), model_dir=tmp_path)
    with pytest.raises(BackendError, match="cannot load the embedded model"):
        await backend.start()


@pytest.mark.model
async def test_token_healing_makes_the_model_spell_the_forced_start_and_leaves_it_out(qwen: EmbeddedBackend) -> None:
    """The prompt ends at a line's start; the output must start with "    ret" in tokens the model picks (which
    text follows is the model's), and the stream yields only what comes after it."""
    assert qwen.info.heals
    prompt = "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n<|fim_middle|>"
    prompt_tokens = qwen.tokenize(prompt)
    text = await collect(qwen, GenerationRequest(prompt, max_tokens=6, forced="    ret"), GenerationStats())
    assert qwen._slot is not None
    llm = qwen._slot.llm
    written = llama_kv.text_of(llm, list(llama_kv.held_tokens(llm))[len(prompt_tokens):])
    assert written.startswith("    ret")  # the tokens evaluated after the prompt (all but the last one sampled)
    assert ("    ret" + text).startswith(written)


@pytest.mark.model
async def test_the_confidence_cut_ends_the_output_before_a_token_the_model_was_unsure_of(qwen: EmbeddedBackend) -> None:
    """No token is sure enough for a bar above 1: the output ends after its first visible token, whatever it is."""
    stats = GenerationStats()
    text = await collect(qwen, GenerationRequest(FIM, max_tokens=16, min_token_p=1.01), stats)
    assert text.strip() and stats.finish_reason == "unsure"
    assert len(qwen.tokenize(FIM + text)) - len(qwen.tokenize(FIM)) <= stats.generated_tokens
    uncut = GenerationStats()
    await collect(qwen, GenerationRequest(FIM, max_tokens=16), uncut)
    assert uncut.generated_tokens > stats.generated_tokens and uncut.finish_reason != "unsure"
