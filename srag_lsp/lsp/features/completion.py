"""Completion: ``textDocument/inlineCompletion`` and ``textDocument/completion`` answer with the best text within
``inlineWaitMs``; a streaming client also gets every update as ``srag/suggestion``."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from lsprotocol import types

from srag_lsp.completion.request import Suggestion
from srag_lsp.lsp.requests import completion_request

if TYPE_CHECKING:
    from srag_lsp.lsp.srag_server import SragServer

SUGGESTION_NOTIFICATION = "srag/suggestion"


async def suggestion_text(ls: SragServer, uri: str, position: types.Position) -> str | None:
    """The text to answer with (None or "" for none): the completion service's best within ``inlineWaitMs``."""
    request = completion_request(ls, uri, position)
    if request is None or ls.runtime is None:
        return None
    return await ls.runtime.service.suggest(request, ls.settings.inline_wait_ms, streaming=ls.settings.streaming)


async def inline_completion(ls: SragServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    text = await suggestion_text(ls, params.text_document.uri, params.position)
    if not text:
        return types.InlineCompletionList(items=[])
    pos = params.position
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=text, range=types.Range(start=pos, end=pos))]
    )


async def completion(ls: SragServer, params: types.CompletionParams) -> types.CompletionList:
    text = await suggestion_text(ls, params.text_document.uri, params.position)
    if not text:
        return types.CompletionList(is_incomplete=True, items=[])
    label = text.strip().split("\n", 1)[0][:80] or text[:80]
    pos = params.position
    item = types.CompletionItem(
        label=label,
        kind=types.CompletionItemKind.Snippet,
        detail="srag-lsp",
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=types.Range(start=pos, end=pos), new_text=text),
        filter_text=label,
        sort_text="0",
    )
    # Incomplete: a re-request after the next keystroke gets the refined text.
    return types.CompletionList(is_incomplete=True, items=[item])


def send_suggestion(ls: SragServer, suggestion: Suggestion) -> None:
    """Stream a suggestion update to a client that opted in (``sragStreaming`` or the ``streaming`` setting)."""
    if ls.settings.streaming:
        ls.protocol.notify(SUGGESTION_NOTIFICATION, suggestion.to_params())


def register(server: SragServer) -> None:
    server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)
    server.feature(types.TEXT_DOCUMENT_COMPLETION,
                   types.CompletionOptions(trigger_characters=[".", "(", " "]))(completion)
    server.suggestions.subscribe(functools.partial(send_suggestion, server))
