"""The model proxy's costs against calling the same local upstream directly, measured in one run.

Processes: the test upstream (tests/model_upstream.py, OpenAI wire format, on 127.0.0.1 and on a
unix socket), the run's model proxy (services/runner/model_proxy.py, on its unix socket, as the
runner serves it), and the clients. Printed:
- latency: p50/p99 of sequential non-streamed chat completions, direct and through the proxy, the
  proxy's added milliseconds and the ratio;
- streaming throughput: N concurrent `stream: true` calls (32 by default) of M chunks each, chunks/s
  direct and through the proxy, as a ratio (median of rounds, alternating the two);
- the whole path an agent uses (unless `--no-relay`): a client in a network-less container calling
  127.0.0.1:8400 through the relay container to the proxy and the upstream, against the same client
  in the same kind of container whose relay points straight at the upstream's own unix socket (the
  difference is the proxy), and against the same client on the host calling the upstream directly
  (the difference is relay + proxy). One stdlib `http.client` script, keep-alive, in all three.

    .venv/bin/python -m benchmarks.models [--calls 300] [--concurrent 32] [--chunks 64] [--rounds 3] [--no-relay]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from mleredux.models.endpoints import Endpoint
from services.runner.model_proxy import ModelProxy, ProxySettings
from tests.conftest import free_port

KEY = "sk-benchmark-key"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hello"}]}

#: The same client on the host and in the containers: N sequential calls on one keep-alive connection.
CLIENT = r"""
import http.client, json, sys, time
host, port, calls, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "hello"}]})
headers = {"content-type": "application/json", "authorization": "Bearer " + key}
connection = http.client.HTTPConnection(host, port, timeout=60)
took = []
for i in range(calls + 20):
    start = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", body, headers)
    answer = connection.getresponse()
    answer.read()
    assert answer.status == 200, answer.status
    if i >= 20:  # the first calls warm the path
        took.append((time.perf_counter() - start) * 1000)
print(json.dumps(took))
"""


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _serve_proxy(socket_dir: str, upstream_url: str) -> None:
    proxy = ModelProxy(
        Path(socket_dir) / "model.sock",
        endpoints=[Endpoint(name="bench", kind="openai", base_url=upstream_url, api_key=KEY)],
        calls_dir=Path(socket_dir) / "model_calls",
        on_call=lambda payload: None,
        settings=ProxySettings(max_concurrent_calls=64, max_calls_per_run=10**9),
    )
    await proxy.start()
    print("listening", flush=True)
    await asyncio.Event().wait()


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    if not process.stdout.readline().startswith(b"listening"):
        process.kill()
        raise RuntimeError(f"{command} did not start")
    return process


async def _latencies(session: aiohttp.ClientSession, url: str, calls: int, headers: dict[str, str]) -> list[float]:
    took = []
    for _ in range(calls):
        start = time.perf_counter()
        async with session.post(url, json=BODY, headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status
        took.append((time.perf_counter() - start) * 1000)
    return took


async def _stream_rate(session: aiohttp.ClientSession, url: str, concurrent: int, headers: dict[str, str]) -> float:
    """Chunks per second of `concurrent` streaming calls at once."""

    async def one() -> int:
        pieces = 0
        async with session.post(url, json={**BODY, "stream": True}, headers=headers) as response:
            async for line in response.content:
                if line.startswith(b"data: {"):
                    pieces += 1
        return pieces

    start = time.perf_counter()
    counts = await asyncio.gather(*(one() for _ in range(concurrent)))
    return sum(counts) / (time.perf_counter() - start)


async def proxy_figures(work: str, port: int, args: argparse.Namespace) -> None:
    direct_url = f"http://127.0.0.1:{port}/v1/chat/completions"
    proxy_url = "http://proxy/v1/chat/completions"
    auth = {"authorization": f"Bearer {KEY}"}
    limits = {"limit": args.concurrent * 2}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(**limits)) as direct,
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=f"{work}/model.sock", **limits)) as proxied,
    ):
        # Warm both paths (connections, the proxy's client session) before measuring.
        await _latencies(direct, direct_url, 20, auth)
        await _latencies(proxied, proxy_url, 20, {})
        d = await _latencies(direct, direct_url, args.calls, auth)
        p = await _latencies(proxied, proxy_url, args.calls, {})
        d50, d99, p50, p99 = _quantile(d, 0.5), _quantile(d, 0.99), _quantile(p, 0.5), _quantile(p, 0.99)
        print(
            f"latency ({args.calls} sequential calls, aiohttp client): direct p50 {d50:.2f} ms p99 {d99:.2f} ms; "
            f"proxy p50 {p50:.2f} ms p99 {p99:.2f} ms"
        )
        print(f"  the proxy adds p50 {p50 - d50:.2f} ms ({p50 / d50:.2f}x), p99 {p99 - d99:.2f} ms ({p99 / d99:.2f}x)")
        direct_rates, proxy_rates = [], []
        for _ in range(args.rounds):
            direct_rates.append(await _stream_rate(direct, direct_url, args.concurrent, auth))
            proxy_rates.append(await _stream_rate(proxied, proxy_url, args.concurrent, {}))
        dr, pr = statistics.median(direct_rates), statistics.median(proxy_rates)
        print(
            f"streaming ({args.concurrent} concurrent calls of {args.chunks} chunks, median of {args.rounds}): "
            f"direct {dr:.0f} chunks/s, proxy {pr:.0f} chunks/s: {pr / dr:.2f} of direct"
        )


def _client_in_relay(relay_image: str, python_image: str, socket_dir: str, client: str, calls: int) -> list[float]:
    """Latencies of CLIENT in a network-less container whose relay pipes to `socket_dir`/model.sock."""
    from services.runner.model_relay import MODEL_SOCKET_NAME, RELAY_PORT, RELAY_SOCKET_DIR

    relay_command = ["/bin/mleredux-model-relay", str(RELAY_PORT), f"{RELAY_SOCKET_DIR}/{MODEL_SOCKET_NAME}"]
    mount = ["-v", f"{socket_dir}:{RELAY_SOCKET_DIR}:ro"]
    relay = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--pull=never",
            "--network",
            "none",
            "--user",
            "65534:65534",
            *mount,
            relay_image,
            *relay_command,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        network = ["--network", f"container:{relay}", "--user", "65534:65534"]
        script = ["-v", f"{client}:/bench/client.py:ro", python_image, "python3", "/bench/client.py"]
        done = subprocess.run(
            ["docker", "run", "--rm", "--pull=never", *network, *script, "127.0.0.1", str(RELAY_PORT), str(calls), KEY],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the client container failed: {done.stderr[-2000:]}")
        return [float(x) for x in json.loads(done.stdout)]
    finally:
        subprocess.run(["docker", "rm", "-f", relay], capture_output=True)


def relay_figures(work: str, port: int, calls: int) -> None:
    from mleredux.images import build_image
    from services.runner.model_relay import build_relay_image

    relay_image, python_image = build_relay_image(), build_image("baseline").tag
    client = Path(work) / "client.py"
    client.write_text(CLIENT)
    client.chmod(0o644)
    done = subprocess.run(
        [sys.executable, str(client), "127.0.0.1", str(port), str(calls), KEY],
        capture_output=True,
        text=True,
        check=True,
    )
    host = [float(x) for x in json.loads(done.stdout)]
    # The client sends the real key in all three; the proxy replaces whatever it is given.
    bare = _client_in_relay(relay_image, python_image, f"{work}/upstream", str(client), calls)
    proxied = _client_in_relay(relay_image, python_image, work, str(client), calls)
    h50, b50, p50 = (_quantile(x, 0.5) for x in (host, bare, proxied))
    h99, b99, p99 = (_quantile(x, 0.99) for x in (host, bare, proxied))
    print(
        f"whole path ({calls} sequential calls, stdlib client): host->upstream p50 {h50:.2f} ms p99 {h99:.2f} ms; "
        f"container->relay->upstream p50 {b50:.2f} ms p99 {b99:.2f} ms; "
        f"container->relay->proxy->upstream p50 {p50:.2f} ms p99 {p99:.2f} ms"
    )
    print(
        f"  the proxy adds p50 {p50 - b50:.2f} ms ({p50 / b50:.2f}x of relay->upstream); relay and proxy add "
        f"p50 {p50 - h50:.2f} ms ({p50 / h50:.2f}x), p99 {p99 - h99:.2f} ms ({p99 / h99:.2f}x) over host->upstream"
    )


def _prepare(work: str) -> None:
    # The relay runs unprivileged: it must reach the socket directories.
    Path(work).chmod(0o755)
    (Path(work) / "upstream").mkdir(mode=0o755)


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mleredux-bench-models.") as work:
        _prepare(work)
        words = [str(args.chunks * 2), str(args.chunks)]
        upstream = _spawn(
            [sys.executable, "-m", "tests.model_upstream", str(port), KEY, *words, f"{work}/upstream/model.sock"]
        )
        proxy = _spawn(
            [sys.executable, "-m", "benchmarks.models", "--serve-proxy", work, f"http://127.0.0.1:{port}/v1"]
        )
        try:
            await proxy_figures(work, port, args)
            if args.relay:
                relay_figures(work, port, args.calls)
        finally:
            for process in (proxy, upstream):
                process.kill()
                process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=32)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-relay", dest="relay", action="store_false", help="skip the whole-path figures (Docker)")
    parser.add_argument("--serve-proxy", nargs=2, metavar=("DIR", "UPSTREAM_URL"), help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_proxy:
        asyncio.run(_serve_proxy(*parsed.serve_proxy))
    else:
        asyncio.run(main(parsed))
