"""What a model call cost: tokens read from OpenAI and Anthropic answers, plain or streamed (SSE).

Both wire formats put counts in a `usage` object: OpenAI's `prompt_tokens`/`completion_tokens`
(chat completions, embeddings) or `input_tokens`/`output_tokens` (responses); Anthropic's
`input_tokens`/`output_tokens`, split over `message_start` and `message_delta` when streamed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tokens:
    input: int = 0
    output: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.input + other.input, self.output + other.output)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def tokens_of(usage: Any) -> Tokens:
    """Tokens in one `usage` object of either format (anything else counts as none)."""
    if not isinstance(usage, dict):
        return Tokens()
    return Tokens(
        _count(usage.get("prompt_tokens", usage.get("input_tokens"))),
        _count(usage.get("completion_tokens", usage.get("output_tokens"))),
    )


def tokens_of_body(body: Any) -> Tokens:
    """Tokens of a non-streamed answer."""
    return tokens_of(body.get("usage")) if isinstance(body, dict) else Tokens()


def sse_events(text: str) -> list[Any]:
    """The JSON `data:` payloads of an SSE stream, in order (`[DONE]` and non-JSON lines skipped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
        if not data or data == "[DONE]":
            continue
        try:
            events.append(json.loads(data))
        except ValueError:
            continue
    return events


def tokens_of_stream(events: list[Any]) -> Tokens:
    """Tokens of a streamed answer: OpenAI sends one final chunk with `usage` (when asked with
    stream_options.include_usage); Anthropic splits input (message_start) and output (message_delta)."""
    found = Tokens()
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("type") == "message_start":
            found = found + tokens_of(event.get("message", {}).get("usage"))
        elif event.get("type") == "message_delta":
            # Its counts are cumulative: they replace message_start's, never add to them.
            delta = tokens_of(event.get("usage"))
            found = Tokens(max(found.input, delta.input), delta.output or found.output)
        elif event.get("type") == "response.completed":
            found = found + tokens_of(event.get("response", {}).get("usage"))
        elif isinstance(event.get("usage"), dict):
            found = found + tokens_of(event["usage"])
    return found


def assemble_stream(events: list[Any]) -> dict[str, Any]:
    """A streamed answer put back together: the text per choice and the finish reason, for the record."""
    texts: dict[int, str] = {}
    finish: dict[int, Any] = {}
    model = None
    for event in events:
        if not isinstance(event, dict):
            continue
        model = event.get("model", model)
        for choice in event.get("choices") or []:
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            texts[index] = texts.get(index, "") + (delta.get("content") or "")
            if choice.get("finish_reason"):
                finish[index] = choice["finish_reason"]
        if event.get("type") == "content_block_delta":
            texts[0] = texts.get(0, "") + (event.get("delta", {}).get("text") or "")
        if event.get("type") == "message_start":
            model = event.get("message", {}).get("model", model)
        if event.get("type") == "message_delta" and event.get("delta", {}).get("stop_reason"):
            finish[0] = event["delta"]["stop_reason"]
    return {
        "model": model,
        "choices": [{"index": i, "text": texts[i], "finish_reason": finish.get(i)} for i in sorted(texts)],
    }


def request_fingerprint(path: str, body: Any) -> str:
    """What replay matches a request by: its path and its JSON body with keys sorted."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{path}\n{canonical}".encode()).hexdigest()
