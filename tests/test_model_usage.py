"""Tokens read from each wire format's answers, plain and streamed, and the replay fingerprint."""

from __future__ import annotations

import json

from mleredux.models.usage import (
    Tokens,
    assemble_stream,
    request_fingerprint,
    sse_events,
    tokens_of_body,
    tokens_of_stream,
)


def sse(*events: object) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_plain_answers_of_each_api() -> None:
    chat = {"usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}
    responses = {"usage": {"input_tokens": 7, "output_tokens": 3}}
    embeddings = {"usage": {"prompt_tokens": 9, "total_tokens": 9}}
    anthropic = {"usage": {"input_tokens": 20, "output_tokens": 8}}
    assert [tokens_of_body(b) for b in (chat, responses, embeddings, anthropic)] == [
        Tokens(12, 5),
        Tokens(7, 3),
        Tokens(9, 0),
        Tokens(20, 8),
    ]
    assert tokens_of_body({"usage": {"prompt_tokens": -3, "completion_tokens": True}}) == Tokens(0, 0)
    assert tokens_of_body(["not", "a", "dict"]) == Tokens()


def test_streams_of_each_api() -> None:
    openai_chunks = [
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"model": "m", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
    ]
    events = sse_events(sse(*openai_chunks))
    assert tokens_of_stream(events) == Tokens(4, 2)
    assert assemble_stream(events) == {
        "model": "m",
        "choices": [{"index": 0, "text": "Hello", "finish_reason": "stop"}],
    }
    anthropic = [
        {"type": "message_start", "message": {"model": "c", "usage": {"input_tokens": 11, "output_tokens": 1}}},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Bon"}},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "jour"}},
        # Cumulative: it replaces message_start's output count.
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}},
    ]
    events = sse_events("".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n" for e in anthropic))
    assert tokens_of_stream(events) == Tokens(11, 6)
    assert assemble_stream(events)["choices"] == [{"index": 0, "text": "Bonjour", "finish_reason": "end_turn"}]
    responses = [
        {"type": "response.created"},
        {"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 9}}},
    ]
    assert tokens_of_stream(sse_events(sse(*responses))) == Tokens(3, 9)
    assert sse_events("data: not json\n\n: a comment\n\n") == []


def test_the_fingerprint_ignores_key_order_but_not_content() -> None:
    a = request_fingerprint("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    b = request_fingerprint("/v1/chat/completions", {"messages": [{"content": "x", "role": "user"}], "model": "m"})
    c = request_fingerprint("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "y"}]})
    d = request_fingerprint("/v1/embeddings", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert a == b and len({a, c, d}) == 3
