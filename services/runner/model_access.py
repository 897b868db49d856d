"""Model access on the runner: which endpoints a run gets, and its proxy and relay while it runs.

`ModelAccess` is runner-wide (the operator's endpoints, the proxy's bounds, the relay image);
`RunModels` is one run's: its proxy on `<work dir>/msock/model.sock`, its relay container, the
environment its agent gets, and its usage for the final status. The execution calls `open`,
`apply` (to the agent's container spec) and `close`; everything else happens here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mleredux import proto_json
from mleredux.errors import InvalidArgumentError, MleReduxError, StoreError
from mleredux.models.endpoints import Endpoint, Endpoints, UnknownEndpointError
from mleredux.store import ArtifactStore
from mleredux.v1 import common_pb2
from services.runner.backends.base import ContainerBackend, ContainerSpec
from services.runner.model_proxy import ModelLimits, ModelProxy, ModelUsage, ProxySettings, ReplayBook, placeholder_key
from services.runner.model_relay import (
    MODEL_SOCKET_NAME,
    RELAY_LABEL,
    RELAY_PORT,
    RELAY_RUNNER_LABEL,
    RelayImage,
    relay_spec,
)
from services.runner.sequencer import EventSequencer

MODEL_SOCKET_DIR = "msock"
CALLS_DIR = "model_calls"
#: A replay reads at most this many recorded calls.
MAX_REPLAY_CALLS = 10_000


def models_field(access: common_pb2.ModelAccess) -> dict[str, Any]:
    """The run request's `models` entry (JSON-able: it is kept in run.json) from the proto."""
    if access.max_requests < 0 or access.max_tokens < 0 or not access.max_cost_usd >= 0:
        raise InvalidArgumentError("model budgets must not be negative")
    if access.replay_run_id and ("/" in access.replay_run_id or access.replay_run_id in (".", "..")):
        raise InvalidArgumentError(f"replay_run_id {access.replay_run_id!r} must not contain '/'")
    if not access.endpoints and not access.replay_run_id:
        return {}
    return {
        "endpoints": list(access.endpoints),
        "max_requests": access.max_requests,
        "max_tokens": access.max_tokens,
        "max_cost_usd": access.max_cost_usd,
        "replay_run_id": access.replay_run_id,
    }


def usage_from_events(events: list[common_pb2.RunEvent]) -> tuple[ModelUsage, int]:
    """A recovered run's usage and number of recorded calls, from its journaled model_call events."""
    usage, recorded = ModelUsage(), 0
    for event in events:
        if not (event.HasField("rollout") and event.rollout.kind == "model_call"):
            continue
        recorded += 1
        payload = proto_json.struct_to_python(event.rollout.payload)
        if payload.get("budget") or "input_tokens" not in payload:
            usage.refused += 1 if payload.get("budget") else 0
            continue
        usage.calls += 1
        usage.input_tokens += int(payload.get("input_tokens", 0))
        usage.output_tokens += int(payload.get("output_tokens", 0))
        usage.cost_usd += float(payload.get("cost_usd", 0.0))
    return usage, recorded


@dataclass
class ModelAccess:
    """The runner's model endpoints and the bounds of every run's proxy."""

    endpoints: Endpoints
    store: ArtifactStore
    settings: ProxySettings = field(default_factory=ProxySettings)
    relay: RelayImage = field(default_factory=RelayImage)

    def check(self, models: dict[str, Any]) -> None:
        """Refuses a run asking for an endpoint this runner does not have (before it starts)."""
        try:
            self.endpoints.grant(list(models.get("endpoints", [])))
        except UnknownEndpointError as exc:
            raise InvalidArgumentError(str(exc)) from None

    def _replay_records(self, run_id: str) -> list[dict[str, Any]]:
        prefix = f"runs/{run_id}/{CALLS_DIR}/"
        try:
            objects = self.store.list(prefix)[:MAX_REPLAY_CALLS]
            records = [json.loads(self.store.get_bytes(o.key)) for o in objects]
        except StoreError:
            raise
        except (MleReduxError, ValueError) as exc:
            raise MleReduxError(f"cannot read the recorded model calls of run {run_id}: {exc}") from None
        if not records:
            raise MleReduxError(f"replay: run {run_id} has no recorded model calls in the store")
        return records


class RunModels:
    """One run's model proxy and relay."""

    def __init__(self, proxy: ModelProxy, endpoints: list[Endpoint], replay: ReplayBook | None) -> None:
        self.proxy = proxy
        self.relay_id: str | None = None
        self._endpoints = endpoints
        self._replay = replay

    @classmethod
    async def open(
        cls,
        access: ModelAccess,
        models: dict[str, Any],
        *,
        run_id: str,
        work_dir: Path,
        sequencer: EventSequencer,
        backend: ContainerBackend,
        runner_id: str,
        agent_container: str | None = None,
    ) -> RunModels:
        """Starts the proxy and the relay. `agent_container` is given for a run found again after a
        restart: what it used is read back from its journal, and its relay is kept when still up."""
        recovering = agent_container is not None
        endpoints = access.endpoints.grant(list(models.get("endpoints", [])))
        replay_id = str(models.get("replay_run_id") or "")
        replay = ReplayBook(await asyncio.to_thread(access._replay_records, replay_id)) if replay_id else None
        usage, recorded = usage_from_events(sequencer.events()) if recovering else (ModelUsage(), 0)

        def on_call(payload: dict[str, Any]) -> None:
            if sequencer.closed:  # a call cut at the very end of the run: its file is all that is left
                return
            sequencer.emit(rollout=common_pb2.RolloutEvent(kind="model_call", payload=proto_json.struct_from(payload)))

        socket_dir = work_dir / MODEL_SOCKET_DIR
        socket_dir.mkdir(exist_ok=True)
        socket_dir.chmod(0o755)
        proxy = ModelProxy(
            socket_dir / MODEL_SOCKET_NAME,
            endpoints=endpoints,
            calls_dir=work_dir / CALLS_DIR,
            on_call=on_call,
            limits=ModelLimits(
                max_requests=int(models.get("max_requests", 0)),
                max_tokens=int(models.get("max_tokens", 0)),
                max_cost_usd=float(models.get("max_cost_usd", 0.0)),
            ),
            settings=access.settings,
            secrets=access.endpoints.secrets,
            replay=replay,
            usage=usage,
            calls_made=recorded,
        )
        await proxy.start()
        opened = cls(proxy, endpoints, replay)
        try:
            tag = await access.relay.tag()
            spec = relay_spec(run_id, tag, socket_dir, runner_id)
            if recovering:
                # The relay outlives a runner restart (it connects anew per connection) and is kept;
                # one that died is replaced by a relay joining the agent's namespace.
                state = await backend.inspect(spec.name)
                if state is not None and state.status == "running":
                    opened.relay_id = state.container_id
                else:
                    if state is not None:
                        await backend.remove(state.container_id)
                    spec = relay_spec(run_id, tag, socket_dir, runner_id, join=agent_container)
            if opened.relay_id is None:
                opened.relay_id = await backend.start(spec)
        except BaseException:
            await opened.close(backend)
            raise
        return opened

    def apply(self, spec: ContainerSpec) -> ContainerSpec:
        """The agent's container joins the relay's network namespace and finds the API in its env."""
        base = f"http://127.0.0.1:{RELAY_PORT}"
        key = placeholder_key(spec.labels.get("mleredux.run_id", "run"))
        env = dict(spec.env)
        # A replaying agent sees what the recorded run's agent saw (its requests must match).
        kinds = set(self.proxy.offered_kinds)
        if "openai" in kinds:
            env.update(OPENAI_BASE_URL=f"{base}/v1", OPENAI_API_KEY=key)
        if "anthropic" in kinds:
            env.update(ANTHROPIC_BASE_URL=f"{base}/anthropic", ANTHROPIC_API_KEY=key)
        env["MLEREDUX_MODEL_ENDPOINTS"] = ",".join(e.name for e in self._endpoints)
        models = self.proxy.offered_models
        if models:
            env["MLEREDUX_MODELS"] = ",".join(models)
        return dataclasses.replace(spec, env=env, network_container=self.relay_id)

    def usage(self) -> common_pb2.ModelUsage:
        u = self.proxy.usage
        return common_pb2.ModelUsage(
            calls=u.calls,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cost_usd=round(u.cost_usd, 8),
            refused=u.refused,
        )

    async def close(self, backend: ContainerBackend) -> None:
        if self.relay_id is not None:
            with contextlib.suppress(Exception):
                await backend.remove(self.relay_id)
            self.relay_id = None
        await self.proxy.stop()


async def reap_relays(backend: ContainerBackend, runner_id: str, active: set[str]) -> int:
    """Removes this runner's relays whose run it no longer has (left by a runner that was killed)."""
    removed = 0
    for container_id in await backend.find({RELAY_RUNNER_LABEL: runner_id}):
        state = await backend.inspect(container_id)
        if state is not None and state.labels.get(RELAY_LABEL) not in active:
            await backend.remove(container_id)
            removed += 1
    return removed
