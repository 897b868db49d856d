"""Page tokens of the gateway's newest-first lists (runs, evaluations): the position after the last item
returned, as (creation time, id), opaque to clients."""

from __future__ import annotations

import base64

from mleredux.errors import InvalidArgumentError


def encode_position(created_ns: int, item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_ns}:{item_id}".encode()).decode()


def decode_position(token: str) -> tuple[int, str]:
    """(created_ns, id) of a token `encode_position` made; InvalidArgumentError for anything else."""
    try:
        created_text, item_id = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        return int(created_text), item_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError("page_token is not a token this server issued") from exc
