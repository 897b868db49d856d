"""Users and API tokens on the real gateway: every RPC needs a token; users see only their own runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mleredux.client import GatewayClient, GatewayError
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import gateway_pb2, gateway_pb2_grpc


@pytest.fixture
async def admin(stack: EmbeddedStack) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as client:
        yield client


async def _client_for(stack: EmbeddedStack, admin: GatewayClient, user: str) -> GatewayClient:
    created = await admin.create_token(user, f"{user}-test")
    return GatewayClient(stack.gateway_address, created.token)


def test_the_bootstrap_token_file_is_private(stack: EmbeddedStack) -> None:
    mode = stat.S_IMODE(stack.home.admin_token_file.stat().st_mode)
    assert mode == 0o600
    assert stack.admin_token.startswith("mlx_")


async def test_a_missing_or_wrong_token_is_unauthenticated(stack: EmbeddedStack) -> None:
    async with grpc.aio.insecure_channel(stack.gateway_address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        unknown = ("authorization", "Bearer mlx_000000000000_" + "x" * 40)
        for metadata in [(), (unknown,), (("authorization", "Basic abc"),)]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListRuns(gateway_pb2.ListRunsRequest(), metadata=metadata, timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.WatchRun(gateway_pb2.WatchRunRequest(run_id="x"), timeout=10):
                pass
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_two_users_are_isolated_and_an_admin_sees_both(stack: EmbeddedStack, admin: GatewayClient) -> None:
    alice = await _client_for(stack, admin, "alice")
    bob = await _client_for(stack, admin, "bob")
    async with alice, bob:
        run = await alice.create_run("demo-digits", "dummy", env={"DUMMY_SLEEP": "0"})
        assert run.owner == "alice"
        for call in (
            bob.get_run(run.run_id),
            bob.cancel_run(run.run_id),
            bob.list_artifacts(run.run_id),
        ):
            with pytest.raises(GatewayError) as caught:
                await call
            assert caught.value.code == grpc.StatusCode.NOT_FOUND and run.run_id in str(caught.value)
        with pytest.raises(GatewayError) as caught:
            async for _ in bob.watch(run.run_id):
                pass
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        assert run.run_id not in {r.run_id for r in (await bob.list_runs()).runs}
        assert run.run_id in {r.run_id for r in (await alice.list_runs()).runs}
        assert run.run_id in {r.run_id for r in (await admin.list_runs(page_size=1000)).runs}
        assert (await admin.get_run(run.run_id)).owner == "alice"
        async for _ in alice.watch(run.run_id):
            pass


async def test_only_admins_manage_other_users_and_revoked_tokens_stop_working(
    stack: EmbeddedStack, admin: GatewayClient
) -> None:
    carol = await _client_for(stack, admin, "carol")
    async with carol:
        assert (await carol.whoami()).user == "carol"
        for call in (carol.create_token("dave"), carol.create_token(admin=True), carol.list_tokens("*")):
            with pytest.raises(GatewayError) as caught:
                await call
            assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
        own = await carol.create_token(name="second")
        assert own.api_token.user == "carol" and not own.api_token.admin
        listed = await carol.list_tokens()
        assert {t.token_id for t in listed} >= {own.api_token.token_id} and all(t.user == "carol" for t in listed)
        assert not any("mlx_" in t.name for t in listed)
        async with GatewayClient(stack.gateway_address, own.token) as second:
            assert (await second.whoami()).user == "carol"  # the gateway remembers the valid token now
            await carol.revoke_token(own.api_token.token_id)
            with pytest.raises(GatewayError) as caught:
                await second.whoami()  # the same connection, the very next call
            assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    async with GatewayClient(stack.gateway_address, own.token) as revoked:
        with pytest.raises(GatewayError) as caught:
            await revoked.list_runs()
        assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED and "revoked" in str(caught.value)
    # A user made an admin is one with the token the gateway already knows too.
    gina = await _client_for(stack, admin, "gina")
    async with gina:
        assert not (await gina.whoami()).admin
        await admin.create_token("gina", admin=True)
        assert (await gina.whoami()).admin
    with pytest.raises(GatewayError) as caught:
        await admin.create_token("Not A Name")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_login_saves_the_token_and_the_cli_uses_it(stack: EmbeddedStack, tmp_path: Path) -> None:
    token = subprocess.run(
        [sys.executable, "-m", "mleredux", "--home", str(stack.home.root), "tokens", "create", "--user", "erin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    home = tmp_path / "erin-home"
    # The default home holds another gateway's admin token: `--home` must keep the CLI from using it.
    elsewhere = tmp_path / "default-home"
    (elsewhere / ".mleredux").mkdir(parents=True)
    (elsewhere / ".mleredux" / "admin.token").write_text("mlx_0123456789abcdef_" + "0" * 32 + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLEREDUX_HOME", "MLEREDUX_TOKEN")}
    env["HOME"] = str(elsewhere)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mleredux", "--home", str(home), *args, "--gateway", stack.gateway_address]
        return subprocess.run(command, capture_output=True, text=True, env=env)

    denied = cli("runs", "list")
    assert denied.returncode != 0 and "no API token" in denied.stderr and "Traceback" not in denied.stderr
    logged = cli("login", "--token", token)
    assert logged.returncode == 0 and "as erin" in logged.stdout, logged.stderr
    assert stat.S_IMODE(home.joinpath("credentials.json").stat().st_mode) == 0o600
    listed = cli("tokens", "list")
    assert listed.returncode == 0 and "erin (user)" in listed.stdout
