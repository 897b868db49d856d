"""The operator's model endpoints file (TOML), parsed and checked before any run uses it.

```toml
[endpoints.NAME]
kind = "openai"            # or "anthropic"
base_url = "https://.../v1"
api_key_env = "VAR"        # or api_key_file = "PATH"
models = ["..."]           # allowed model names; empty means any
[endpoints.NAME.prices."MODEL"]
input = 2.5                # USD per million tokens
output = 10.0
```

Keys are read when the file is loaded, so an endpoint whose key is missing is refused at startup,
never discovered by an agent mid-run. The key lives only in `Endpoint.api_key`, which `repr` hides.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mleredux.errors import MleReduxError

KINDS = ("openai", "anthropic")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENDPOINT_KEYS = {"kind", "base_url", "api_key_env", "api_key_file", "models", "prices"}


class EndpointsFileError(MleReduxError):
    """The endpoints file cannot be used; the message names the endpoint and the field."""

    grpc_code = "INVALID_ARGUMENT"


class UnknownEndpointKindError(EndpointsFileError):
    """`kind` is neither openai nor anthropic."""


class MissingApiKeyError(EndpointsFileError):
    """The endpoint's key variable is unset or empty, or its key file is missing or empty."""


class BadPriceError(EndpointsFileError):
    """A price is not a non-negative number, or names fields other than input/output."""


class UnknownEndpointError(MleReduxError):
    """A run asked for an endpoint the operator did not configure."""

    grpc_code = "INVALID_ARGUMENT"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class Endpoint:
    name: str
    kind: str
    base_url: str
    api_key: str = field(repr=False)
    models: tuple[str, ...] = ()
    prices: dict[str, Price] = field(default_factory=dict)

    def allows(self, model: str) -> bool:
        return not self.models or model in self.models

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price = self.prices.get(model)
        return price.cost(input_tokens, output_tokens) if price is not None else 0.0


@dataclass(frozen=True)
class Endpoints:
    """Every configured endpoint by name."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.endpoints)

    def get(self, name: str) -> Endpoint:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            known = ", ".join(sorted(self.endpoints)) or "none are configured"
            raise UnknownEndpointError(f"unknown model endpoint {name!r} (known: {known})")
        return endpoint

    def grant(self, names: list[str]) -> list[Endpoint]:
        """The endpoints a run asked for, in its order, each once; unknown names raise."""
        return [self.get(name) for name in dict.fromkeys(names)]

    @property
    def secrets(self) -> list[str]:
        return [e.api_key for e in self.endpoints.values()]


def _price(where: str, value: Any) -> Price:
    if not isinstance(value, dict):
        raise BadPriceError(f"{where}: a price is a table with input and output (USD per million tokens)")
    unknown = set(value) - {"input", "output"}
    if unknown:
        raise BadPriceError(f"{where}: unknown price fields {sorted(unknown)} (only input and output)")
    numbers = {}
    for side in ("input", "output"):
        number = value.get(side, 0.0)
        if isinstance(number, bool) or not isinstance(number, int | float) or number < 0 or number != number:
            raise BadPriceError(f"{where}.{side}: {number!r} is not a non-negative number")
        numbers[side] = float(number)
    return Price(**numbers)


def _key(where: str, table: dict[str, Any], base: Path, environ: dict[str, str]) -> str:
    env_name, file_name = table.get("api_key_env"), table.get("api_key_file")
    if (env_name is None) == (file_name is None):
        raise MissingApiKeyError(f"{where}: give exactly one of api_key_env or api_key_file")
    if env_name is not None:
        if not isinstance(env_name, str) or not env_name:
            raise EndpointsFileError(f"{where}.api_key_env: must be a variable name")
        key = environ.get(env_name, "").strip()
        if not key:
            raise MissingApiKeyError(f"{where}: the environment variable {env_name} is unset or empty")
        return key
    if not isinstance(file_name, str) or not file_name:
        raise EndpointsFileError(f"{where}.api_key_file: must be a path")
    path = Path(file_name).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise MissingApiKeyError(f"{where}: cannot read the key file {path}: {exc.strerror}") from None
    if not key:
        raise MissingApiKeyError(f"{where}: the key file {path} is empty")
    return key


def parse_endpoints(text: str, *, base: Path = Path("."), environ: dict[str, str] | None = None) -> Endpoints:
    """Parses and checks an endpoints file's text; key files are relative to `base`."""
    env = dict(os.environ) if environ is None else environ
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EndpointsFileError(f"the endpoints file is not valid TOML: {exc}") from None
    unknown_top = set(document) - {"endpoints"}
    if unknown_top:
        raise EndpointsFileError(f"unknown top-level keys {sorted(unknown_top)} (only [endpoints.NAME])")
    tables = document.get("endpoints", {})
    if not isinstance(tables, dict):
        raise EndpointsFileError("endpoints must be tables: [endpoints.NAME]")
    endpoints: dict[str, Endpoint] = {}
    for name, table in tables.items():
        where = f"endpoints.{name}"
        if not _NAME.match(name):
            raise EndpointsFileError(f"{where}: a name is letters, digits, '.', '_' or '-' (at most 64)")
        if not isinstance(table, dict):
            raise EndpointsFileError(f"{where}: must be a table")
        unknown = set(table) - _ENDPOINT_KEYS
        if unknown:
            raise EndpointsFileError(f"{where}: unknown fields {sorted(unknown)}")
        kind = table.get("kind")
        if kind not in KINDS:
            raise UnknownEndpointKindError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        base_url = table.get("base_url")
        if not isinstance(base_url, str) or not re.match(r"^https?://[^/\s]+", base_url):
            raise EndpointsFileError(f"{where}.base_url: {base_url!r} is not an http(s) URL")
        models = table.get("models", [])
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise EndpointsFileError(f"{where}.models: must be a list of model names")
        prices_table = table.get("prices", {})
        if not isinstance(prices_table, dict):
            raise BadPriceError(f'{where}.prices: must be a table of [prices."MODEL"] tables')
        prices = {model: _price(f"{where}.prices.{model}", value) for model, value in prices_table.items()}
        endpoints[name] = Endpoint(
            name=name,
            kind=kind,
            base_url=base_url.rstrip("/"),
            api_key=_key(where, table, base, env),
            models=tuple(models),
            prices=prices,
        )
    return Endpoints(endpoints)


def load_endpoints(path: Path, *, environ: dict[str, str] | None = None) -> Endpoints:
    """Reads the endpoints file at `path`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise EndpointsFileError(f"cannot read the endpoints file {path}: {exc.strerror}") from None
    return parse_endpoints(text, base=path.parent, environ=environ)
