"""PlainHttpTransport: HTTP/1.1 on asyncio streams, behind an httpx client."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from victor_core.testing import ScriptedServer

from victor_openai_provider._transport import PlainHttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


async def _with_server(handler: Handler, test: Callable[[str], Awaitable[Any]]) -> Any:
    writers: list[asyncio.StreamWriter] = []

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away first
        finally:
            writer.close()

    server = await asyncio.start_server(closing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await test(f"http://127.0.0.1:{port}")
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def _client(**options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PlainHttpTransport(), **options)


def test_answers_and_reuses_one_connection() -> None:
    with ScriptedServer(["one", "two", "three"]) as server:

        async def main() -> list[str]:
            async with _client() as client:
                texts = []
                for _ in range(3):
                    response = await client.post(
                        server.base_url + "/chat/completions",
                        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                    )
                    assert response.status_code == 200
                    assert response.http_version == "HTTP/1.1"
                    texts.append(response.json()["choices"][0]["message"]["content"])
                return texts

        assert asyncio.run(main()) == ["one", "two", "three"]
        assert server.connections == 1


def test_a_streamed_body_arrives_in_pieces() -> None:
    with ScriptedServer(["a b c d"]) as server:

        async def main() -> list[str]:
            body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
            async with _client() as client:
                url = server.base_url + "/chat/completions"
                async with client.stream("POST", url, json=body) as response:
                    return [line async for line in response.aiter_lines() if line]

        lines = asyncio.run(main())
        assert lines[-1] == "data: [DONE]"
        assert len(lines) >= 5


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await _read_request(reader)
        # Keep-alive is not refused, but the server drops the connection anyway.
        writer.write(_answer(b"hello"))
        await writer.drain()
        writer.close()

    async def test(url: str) -> list[str]:
        async with _client() as client:
            first = await client.get(url + "/a")
            await asyncio.sleep(0.05)  # the close reaches the client's idle connection
            second = await client.get(url + "/b")
            return [first.text, second.text]

    assert asyncio.run(_with_server(handler, test)) == ["hello", "hello"]
    assert len(connections) == 2


def test_a_reused_connection_dead_before_any_answer_is_sent_again() -> None:
    seen: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        await _read_request(reader)
        writer.write(_answer(b"ok"))
        await writer.drain()
        if len(seen) == 1:
            # Read the second request, then close without a byte of answer.
            await _read_request(reader)
            writer.close()
            return
        writer.close()

    async def test(url: str) -> list[str]:
        transport = PlainHttpTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            first = await client.get(url + "/a")
            second = await client.get(url + "/b")
            return [first.text, second.text]

    assert asyncio.run(_with_server(handler, test)) == ["ok", "ok"]
    assert len(seen) == 2


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", id="cut-short"),
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", id="malformed"),
    ],
)
def test_a_broken_answer_is_a_protocol_error(answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def test(url: str) -> None:
        async with _client() as client:
            await client.get(url + "/")

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(_with_server(handler, test))


def test_a_silent_server_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async def test(url: str) -> None:
        async with _client(timeout=httpx.Timeout(5.0, read=0.2)) as client:
            await client.get(url + "/")

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(_with_server(handler, test))


def test_nobody_listening_is_a_connect_error() -> None:
    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # bound, never listening: connections are refused
            async with _client() as client:
                await client.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(main())


def test_only_plain_http_is_spoken() -> None:
    async def main() -> None:
        async with _client() as client:
            await client.get("https://127.0.0.1:1/")

    with pytest.raises(httpx.UnsupportedProtocol, match="http:// only"):
        asyncio.run(main())


def test_a_closed_transport_refuses_requests() -> None:
    async def main() -> None:
        transport = PlainHttpTransport()
        await transport.aclose()
        request = httpx.Request("GET", "http://127.0.0.1:1/")
        await transport.handle_async_request(request)

    with pytest.raises(httpx.ConnectError, match="closed"):
        asyncio.run(main())


def test_headers_and_body_reach_the_server() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await _read_request(reader))
        writer.write(_answer(b"{}", extra=b"X-Answer: yes\r\n"))
        await writer.drain()
        writer.close()

    async def test(url: str) -> tuple[int, str]:
        async with _client(headers={"Authorization": "Bearer k"}) as client:
            response = await client.post(url + "/v1/chat?x=1", json={"a": 1})
            return response.status_code, response.headers["x-answer"]

    assert asyncio.run(_with_server(handler, test)) == (200, "yes")
    request = received[0]
    assert request.startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\n")
    assert b"authorization: Bearer k" in request.lower().replace(b"bearer", b"Bearer")
    assert request.endswith(b'{"a":1}') or request.endswith(b'{"a": 1}')


def test_a_stream_left_at_its_done_line_keeps_its_connection() -> None:
    with ScriptedServer(["a b", "c d"]) as server:

        async def main() -> None:
            body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
            async with _client() as client:
                url = server.base_url + "/chat/completions"
                for _ in range(2):
                    async with client.stream("POST", url, json=body) as response:
                        async for line in response.aiter_lines():
                            if line == "data: [DONE]":
                                break  # the body's terminator is still to come

        asyncio.run(main())
        assert server.connections == 1


def test_a_body_abandoned_midway_drops_its_connection_quickly() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(5)  # the rest never comes

    async def test(url: str) -> float:
        transport = PlainHttpTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("GET", url + "/") as response:
                async for chunk in response.aiter_raw():
                    assert chunk == b"first"
                    break
                loop = asyncio.get_running_loop()
                start = loop.time()
            closed = loop.time() - start
            assert "idle=0" in repr(transport)
            return closed

    assert asyncio.run(_with_server(handler, test)) < 1.0


def test_an_answer_ended_by_closing_the_connection_is_read_whole() -> None:
    # HTTP/1.0 style: no Content-Length, the body ends when the server hangs up.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    async def test(url: str) -> tuple[str, str]:
        transport = PlainHttpTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(url + "/")
            return response.text, repr(transport)

    text, state = asyncio.run(_with_server(handler, test))
    assert text == "all of it"
    assert "idle=0" in state  # a connection the server closed is not kept
