"""The endpoints file: parsed, checked, and each mistake named specifically."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleredux.models.endpoints import (
    BadPriceError,
    EndpointsFileError,
    MissingApiKeyError,
    UnknownEndpointError,
    UnknownEndpointKindError,
    load_endpoints,
    parse_endpoints,
)

A = '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_env = "K"\n'

GOOD = """
[endpoints.main]
kind = "openai"
base_url = "https://models.example/v1/"
api_key_env = "MAIN_KEY"
models = ["small", "large"]
[endpoints.main.prices."small"]
input = 2.5
output = 10

[endpoints.claude]
kind = "anthropic"
base_url = "https://anthropic.example"
api_key_file = "claude.key"
"""


def test_a_good_file_gives_endpoints_with_keys_prices_and_models(tmp_path: Path) -> None:
    (tmp_path / "claude.key").write_text("sk-claude\n")
    (tmp_path / "models.toml").write_text(GOOD)
    endpoints = load_endpoints(tmp_path / "models.toml", environ={"MAIN_KEY": "sk-main"})
    main, claude = endpoints.get("main"), endpoints.get("claude")
    assert (main.kind, main.base_url, main.api_key, main.models) == (
        "openai",
        "https://models.example/v1",
        "sk-main",
        ("small", "large"),
    )
    assert main.allows("small") and not main.allows("other")
    assert main.cost("small", 1_000_000, 100_000) == pytest.approx(3.5)
    assert main.cost("large", 1000, 1000) == 0.0  # no price: free
    assert claude.api_key == "sk-claude" and claude.allows("anything")
    assert "sk-main" not in repr(endpoints)  # the key is never printed
    assert sorted(endpoints.secrets) == ["sk-claude", "sk-main"]
    assert [e.name for e in endpoints.grant(["claude", "main", "claude"])] == ["claude", "main"]


@pytest.mark.parametrize(
    ("text", "environ", "error", "words"),
    [
        (
            '[endpoints.a]\nkind = "gemini"\nbase_url = "http://x"\napi_key_env = "K"',
            {"K": "k"},
            UnknownEndpointKindError,
            "gemini",
        ),
        (
            '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_env = "K"',
            {},
            MissingApiKeyError,
            "K is unset",
        ),
        (
            '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_env = "K"',
            {"K": " "},
            MissingApiKeyError,
            "K is unset",
        ),
        (
            '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_file = "nope.key"',
            {},
            MissingApiKeyError,
            "nope.key",
        ),
        ('[endpoints.a]\nkind = "openai"\nbase_url = "http://x"', {}, MissingApiKeyError, "exactly one"),
        (
            A + "[endpoints.a.prices.m]\ninput = -1",
            {"K": "k"},
            BadPriceError,
            "prices.m.input",
        ),
        (
            A + '[endpoints.a.prices.m]\ninput = "cheap"',
            {"K": "k"},
            BadPriceError,
            "not a non-negative number",
        ),
        (
            A + "[endpoints.a.prices.m]\ncached = 1",
            {"K": "k"},
            BadPriceError,
            "cached",
        ),
        (
            '[endpoints.a]\nkind = "openai"\nbase_url = "ftp://x"\napi_key_env = "K"',
            {"K": "k"},
            EndpointsFileError,
            "base_url",
        ),
        (
            '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_env = "K"\nmodel = "m"',
            {"K": "k"},
            EndpointsFileError,
            "unknown fields",
        ),
        (
            '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_env = "K"\nmodels = "m"',
            {"K": "k"},
            EndpointsFileError,
            "models",
        ),
        ("[endpoints.a\n", {}, EndpointsFileError, "not valid TOML"),
        ('[models.a]\nkind = "openai"', {}, EndpointsFileError, "top-level"),
    ],
)
def test_each_mistake_is_a_specific_error(
    text: str, environ: dict[str, str], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        parse_endpoints(text, environ=environ)


def test_an_unknown_endpoint_lists_the_known_ones() -> None:
    endpoints = parse_endpoints(
        '[endpoints.a]\nkind = "openai"\nbase_url = "http://x"\napi_key_env = "K"', environ={"K": "k"}
    )
    with pytest.raises(UnknownEndpointError, match=r"'b' \(known: a\)"):
        endpoints.grant(["a", "b"])


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(EndpointsFileError, match="cannot read the endpoints file"):
        load_endpoints(tmp_path / "absent.toml")


def test_model_access_from_the_cli_flags() -> None:
    from mleredux.errors import InvalidArgumentError
    from mleredux.models.access import model_access

    assert model_access([]) is None
    access = model_access(["a", "b", "a"], max_requests=3, max_cost_usd=1.5)
    assert access is not None and list(access.endpoints) == ["a", "b"] and access.max_requests == 3
    replay = model_access(replay_run_id="r1")
    assert replay is not None and replay.replay_run_id == "r1"
    with pytest.raises(InvalidArgumentError, match="must not be negative"):
        model_access(["a"], max_tokens=-1)
    with pytest.raises(InvalidArgumentError, match="non-negative number"):
        model_access(["a"], max_cost_usd=float("nan"))
    with pytest.raises(InvalidArgumentError, match="need --model-endpoint"):
        model_access([], max_requests=2)
