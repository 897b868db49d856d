"""The model proxy's costs against calling the same local upstream directly, measured in one run.

Three processes: the test upstream (tests/model_upstream.py, OpenAI wire format, on 127.0.0.1), the
run's model proxy (services/runner/model_proxy.py, on a unix socket, as the runner serves it), and
this client. Printed:
- latency: p50/p99 of sequential non-streamed chat completions, direct and through the proxy, and
  the proxy's added milliseconds and ratio;
- streaming throughput: N concurrent `stream: true` calls (32 by default) of M chunks each, chunks/s
  direct and through the proxy, as a ratio.
Not included: the relay container's hop (a loopback TCP connection piped to the unix socket).

    .venv/bin/python -m benchmarks.models [--calls 300] [--concurrent 32] [--chunks 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _serve_proxy(socket_dir: str, upstream_url: str) -> None:
    proxy = ModelProxy(
        Path(socket_dir) / "model.sock",
        endpoints=[Endpoint(name="bench", kind="openai", base_url=upstream_url, api_key=KEY)],
        calls_dir=Path(socket_dir) / "model_calls",
        on_call=lambda payload: None,
        settings=ProxySettings(max_concurrent_calls=64),
    )
    await proxy.start()
    print("listening", flush=True)
    await asyncio.Event().wait()


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(b"listening"):
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


async def _stream_throughput(
    session: aiohttp.ClientSession, url: str, concurrent: int, headers: dict[str, str]
) -> tuple[float, int]:
    async def one() -> int:
        pieces = 0
        body = {**BODY, "stream": True}
        async with session.post(url, json=body, headers=headers) as response:
            async for line in response.content:
                if line.startswith(b"data: {"):
                    pieces += 1
        return pieces

    start = time.perf_counter()
    counts = await asyncio.gather(*(one() for _ in range(concurrent)))
    return time.perf_counter() - start, sum(counts)


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mleredux-bench-models.") as work:
        upstream = _spawn(
            [sys.executable, "-m", "tests.model_upstream", str(port), KEY, str(args.chunks * 2), str(args.chunks)]
        )
        proxy = _spawn(
            [sys.executable, "-m", "benchmarks.models", "--serve-proxy", work, f"http://127.0.0.1:{port}/v1"]
        )
        try:
            direct_url = f"http://127.0.0.1:{port}/v1/chat/completions"
            auth = {"authorization": f"Bearer {KEY}"}
            limits = {"limit": args.concurrent * 2}
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(**limits)) as direct,
                aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=f"{work}/model.sock", **limits)) as proxied,
            ):
                proxy_url = "http://proxy/v1/chat/completions"
                # Warm both paths (connections, the proxy's client session) before measuring.
                await _latencies(direct, direct_url, 20, auth)
                await _latencies(proxied, proxy_url, 20, {})
                d = await _latencies(direct, direct_url, args.calls, auth)
                p = await _latencies(proxied, proxy_url, args.calls, {})
                d50, d99, p50, p99 = _quantile(d, 0.5), _quantile(d, 0.99), _quantile(p, 0.5), _quantile(p, 0.99)
                print(
                    f"latency ({args.calls} sequential calls): direct p50 {d50:.2f} ms p99 {d99:.2f} ms; "
                    f"proxy p50 {p50:.2f} ms p99 {p99:.2f} ms"
                )
                print(
                    f"  proxy adds p50 {p50 - d50:.2f} ms ({p50 / d50:.2f}x), p99 {p99 - d99:.2f} ms ({p99 / d99:.2f}x)"
                )
                await _stream_throughput(direct, direct_url, args.concurrent, auth)
                await _stream_throughput(proxied, proxy_url, args.concurrent, {})
                dt, dn = await _stream_throughput(direct, direct_url, args.concurrent, auth)
                pt, pn = await _stream_throughput(proxied, proxy_url, args.concurrent, {})
                assert dn == pn, (dn, pn)
                print(
                    f"streaming ({args.concurrent} concurrent calls, {dn} chunks): direct {dn / dt:.0f} chunks/s, "
                    f"proxy {pn / pt:.0f} chunks/s: {(pn / pt) / (dn / dt):.2f} of direct"
                )
                print(
                    json.dumps(
                        {
                            "latency_p50_ratio": round(p50 / d50, 3),
                            "latency_p99_ratio": round(p99 / d99, 3),
                            "added_p50_ms": round(p50 - d50, 3),
                            "added_p99_ms": round(p99 - d99, 3),
                            "stream_throughput_ratio": round((pn / pt) / (dn / dt), 3),
                        }
                    )
                )
        finally:
            for process in (proxy, upstream):
                process.kill()
                process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=32)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--serve-proxy", nargs=2, metavar=("DIR", "UPSTREAM_URL"), help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_proxy:
        asyncio.run(_serve_proxy(*parsed.serve_proxy))
    else:
        asyncio.run(main(parsed))
