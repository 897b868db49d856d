"""Two users on the whole stack: mallory's agent tries every runner-side attack at once (hostile
rollout lines, file names, output past the cap, a disk filled past its limit, a validation call
before anything else) while alice's normal run goes on; alice's run SUCCEEDED, mallory's ends in a
final state with the warnings that name each bound, and the runner's memory stays within its bound."""

from __future__ import annotations

import asyncio
import shutil
import urllib.parse
from pathlib import Path

import aiohttp

from mleredux import proto_json
from mleredux.client import GatewayClient
from mleredux.embedded import EmbeddedStack
from mleredux.v1 import common_pb2, gateway_pb2
from tests.hostile_agent import ATTACK_SCRIPT
from tests.service_memory import ServiceMemory

RunState = common_pb2.RunState
MIB = 1 << 20
#: Peak resident memory of the runner process over the session's runs (see docs/limits.md).
RUNNER_PEAK_RSS_BOUND = 500 * MIB


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def _follow(client: GatewayClient, run: gateway_pb2.Run) -> tuple[gateway_pb2.Run, list[common_pb2.RunEvent]]:
    events = [event async for event in client.watch(run.run_id)]
    return await client.get_run(run.run_id), events


def _hostile_folder(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(ATTACK_SCRIPT, folder / "attack.sh")
    (folder / "Dockerfile").write_text(
        'FROM mleredux-base-busybox:latest\nCOPY attack.sh /agent/attack.sh\nCMD ["/bin/sh", "/agent/attack.sh"]\n'
    )
    return folder


async def _bring_hostile_agent(mallory: GatewayClient, folder: Path) -> str:
    """mallory brings the attack as her own agent, as any tenant must (a bare image is for admins)."""
    created = await mallory.create_agent("hostile", directory=folder)
    async for message in mallory.watch_agent_build(created.name):
        if message.HasField("agent"):
            assert message.agent.build_state == gateway_pb2.AgentBuildState.AGENT_BUILD_STATE_READY, message.agent
    return created.agent_id


async def test_a_hostile_tenant_hits_every_runner_bound_while_another_users_run_succeeds(
    stack: EmbeddedStack, tmp_path: Path
) -> None:
    async with GatewayClient(stack.gateway_address, stack.admin_token) as admin:
        mallory_token = (await admin.create_token("mallory", "hostile")).token
        alice_token = (await admin.create_token("alice", "normal")).token
    memory = ServiceMemory(stack)
    memory.start()
    async with (
        GatewayClient(stack.gateway_address, mallory_token) as mallory,
        GatewayClient(stack.gateway_address, alice_token) as alice,
    ):
        hostile_agent = await _bring_hostile_agent(mallory, _hostile_folder(tmp_path / "hostile"))
        attack = await mallory.create_run(
            "demo-digits",
            hostile_agent,
            compute=common_pb2.ComputeProfile(disk_bytes=64 * MIB, memory_bytes=256 * MIB),
            env={
                "ATTACK": "validate-first rollout names output disk",
                "ROLLOUT_LINES": "12000",
                "OUTPUT_LINES": "3000000",  # issue 12.7: 3 million printed lines
            },
        )
        normal = await alice.create_run("demo-digits", "dummy", env={"DUMMY_TICKS": "40", "DUMMY_TICK_SECONDS": "0.05"})
        (attacked, attack_events), (normal_run, _) = await asyncio.gather(
            _follow(mallory, attack), _follow(alice, normal)
        )
    measured = memory.stop()
    assert normal_run.state == RunState.RUN_STATE_SUCCEEDED, normal_run.message
    # The attacker's agent left a valid submission and exited 0: only the bounds acted on its run.
    assert attacked.state == RunState.RUN_STATE_SUCCEEDED, attacked.message
    said = [
        proto_json.struct_to_python(e.rollout.payload)["message"] for e in attack_events if e.rollout.kind == "warning"
    ]
    assert sum(w.startswith("malformed rollout line") for w in said) >= 7
    assert said.count("rollout limit of 10000 events per run reached; later rollout lines are not recorded") == 1
    assert (
        said.count("output limit of 200000 lines per run reached; the run goes on but later output is not recorded")
        == 1
    )
    assert any("are not printable UTF-8 and are stored encoded" in w for w in said)
    assert any("longer than 900 bytes were not uploaded" in w for w in said)
    assert any(w.startswith(f"disk limit of {64 * MIB} bytes reached") for w in said)
    running = next(e.seq for e in attack_events if e.status_change.state == RunState.RUN_STATE_RUNNING)
    assert min(e.seq for e in attack_events if e.rollout.kind == "validation") > running
    assert _peak_rss(stack.services["runner"].process.pid) < RUNNER_PEAK_RSS_BOUND
    # Over HTTP the run's artifacts list answers, and a file whose name held a newline or bytes that
    # are not UTF-8 downloads under its encoded name (quoted like any name).
    base = f"http://{stack.http_address}"
    headers = {"Authorization": f"Bearer {mallory_token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async with session.get(f"{base}/v1/runs/{attack.run_id}/artifacts", headers=headers) as listed:
            assert listed.status == 200, await listed.text()
            names = {a["name"] for a in (await listed.json())["artifacts"]}
        assert {"code/new%0Aline.py", "code/bad%FF%FEname.py", "submission/submission.csv"} <= names
        for name in ("code/new%0Aline.py", "code/bad%FF%FEname.py"):
            url = f"{base}/v1/runs/{attack.run_id}/artifacts/{urllib.parse.quote(name, safe='')}"
            async with session.get(url, headers=headers) as download:
                assert download.status == 200, (name, await download.text())
                assert await download.read() == b"x"
    # Each service's peak over the attack within its bound (the gateway once took 1,407 MiB for 3M lines).
    ServiceMemory.check(measured)
