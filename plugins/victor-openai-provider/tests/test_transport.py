"""PlainHttpClient: HTTP/1.1 on asyncio streams, without httpx or h11."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from victor_core.testing import ScriptedServer

from victor_openai_provider._http import ConnectFailed, HttpError, TimedOut
from victor_openai_provider._transport import PlainHttpClient

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


CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM = json.dumps(
    {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
).encode()


def _client(url: str, **options: Any) -> PlainHttpClient:
    return PlainHttpClient(url, **options)


def test_answers_and_reuses_one_connection() -> None:
    with ScriptedServer(["one", "two", "three"]) as server:

        async def main() -> list[str]:
            client = _client(server.base_url)
            try:
                texts = []
                for _ in range(3):
                    answer = await client.send("chat/completions", CHAT)
                    assert answer.status == 200
                    assert "json" in answer.headers["content-type"]
                    texts.append(answer.json()["choices"][0]["message"]["content"])
                return texts
            finally:
                await client.aclose()

        assert asyncio.run(main()) == ["one", "two", "three"]
        assert server.connections == 1


def test_a_streamed_body_arrives_as_lines() -> None:
    with ScriptedServer(["a b c d"]) as server:

        async def main() -> list[str]:
            client = _client(server.base_url)
            answer = await client.send("/chat/completions", STREAM, stream=True)
            try:
                return [line async for line in answer.lines() if line]
            finally:
                await answer.aclose()
                await client.aclose()

        lines = asyncio.run(main())
        assert lines[-1] == "data: [DONE]"
        assert len(lines) >= 5


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([b"a\r\nb\n\nc\rd"], id="every-line-end"),
        pytest.param([b"a\r", b"\nb\n", b"\n", b"c\r", b"d"], id="crlf-split-across-chunks"),
        pytest.param([b"\xc3", b"\xa9t\xc3\xa9\nb\n\nc\nd"], id="utf8-split-across-chunks"),
    ],
)
def test_lines_end_at_crlf_lf_or_cr(pieces: list[bytes]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def test(url: str) -> list[str]:
        client = _client(url)
        answer = await client.send("/", b"{}", stream=True)
        try:
            return [line async for line in answer.lines()]
        finally:
            await answer.aclose()
            await client.aclose()

    lines = asyncio.run(_with_server(handler, test))
    first = "\u00e9t\u00e9" if b"\xc3" in pieces[0] else "a"
    assert lines == [first, "b", "", "c", "d"]


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
        client = _client(url)
        first = await client.send("/a", b"{}")
        await asyncio.sleep(0.05)  # the close reaches the client's idle connection
        second = await client.send("/b", b"{}")
        await client.aclose()
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
        client = _client(url)
        first = await client.send("/a", b"{}")
        second = await client.send("/b", b"{}")
        await client.aclose()
        return [first.text, second.text]

    assert asyncio.run(_with_server(handler, test)) == ["ok", "ok"]
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
            "closed the connection before the end",
            id="cut-short",
        ),
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", "malformed answer: status line", id="malformed"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx",
            "unsupported content encoding 'br'",
            id="unknown-coding",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
            "malformed compressed body",
            id="bad-gzip",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
            "content length '2, 3'",
            id="conflicting-lengths",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "transfer encoding 'gzip, chunked'",
            id="unknown-transfer-coding",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "chunk size",
            id="bad-chunk-size",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
            "chunk size",
            id="chunk-size-with-0x",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX\r\n",
            "chunk end",
            id="bad-chunk-end",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            "closed the connection before the end",
            id="cut-mid-chunk",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed answer: header", id="bad-header"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 70000 + b"\r\n\r\n",
            "over 65536 bytes",
            id="huge-header",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-", "closed the connection", id="cut-in-head"),
    ],
)
def test_a_broken_answer_is_an_http_error(answer: bytes, message: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def test(url: str) -> None:
        client = _client(url)
        try:
            await client.send("/", b"{}")
        finally:
            await client.aclose()

    with pytest.raises(HttpError, match=message) as caught:
        asyncio.run(_with_server(handler, test))
    assert not isinstance(caught.value, (ConnectFailed, TimedOut))


def test_a_gzipped_body_is_decoded() -> None:
    packed = gzip.compress(b'{"ok": true}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(packed), packed)
        )
        await writer.drain()

    async def test(url: str) -> Any:
        client = _client(url)
        answer = await client.send("/", b"{}")
        await client.aclose()
        return answer.json()

    assert asyncio.run(_with_server(handler, test)) == {"ok": True}


def test_a_silent_server_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async def test(url: str) -> None:
        client = _client(url, timeout=0.2)
        try:
            await client.send("/", b"{}")
        finally:
            await client.aclose()

    with pytest.raises(TimedOut, match=r"read timed out after 0\.2 s") as caught:
        asyncio.run(_with_server(handler, test))
    assert caught.value.phase == "read"


def test_nobody_listening_is_a_connect_failure() -> None:
    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # bound, never listening: connections are refused
            await _client(f"http://127.0.0.1:{port}").send("/", b"{}")

    with pytest.raises(ConnectFailed):
        asyncio.run(main())


@pytest.mark.parametrize("url", ["https://127.0.0.1:1/", "http:///path", "127.0.0.1:8000"])
def test_only_plain_http_to_a_host_is_spoken(url: str) -> None:
    with pytest.raises(ValueError, match=r"http:// only.*" + re.escape(repr(url))):
        PlainHttpClient(url)


def test_a_closed_client_refuses_requests() -> None:
    async def main() -> None:
        client = _client("http://127.0.0.1:1")
        await client.aclose()
        await client.aclose()  # idempotent
        await client.send("/", b"{}")

    with pytest.raises(HttpError, match="closed"):
        asyncio.run(main())


def test_headers_and_body_reach_the_server() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await _read_request(reader))
        writer.write(_answer(b"{}", extra=b"X-Answer: yes\r\nX-Answer: again\r\n"))
        await writer.drain()
        writer.close()

    async def test(url: str) -> tuple[int, str]:
        client = _client(url + "/v1/?api-version=2", headers={"Authorization": "Bearer k"})
        answer = await client.send("chat", b'{"a":1}')
        await client.aclose()
        return answer.status, answer.headers["x-answer"]

    assert asyncio.run(_with_server(handler, test)) == (200, "yes, again")
    request = received[0]
    assert request.startswith(b"POST /v1/chat?api-version=2 HTTP/1.1\r\n")
    lines = request.split(b"\r\n\r\n")[0].lower().split(b"\r\n")
    assert b"authorization: bearer k" in lines
    assert b"content-type: application/json" in lines
    assert b"content-length: 7" in lines
    assert any(line.startswith(b"host: 127.0.0.1:") for line in lines)
    assert request.endswith(b'{"a":1}')


def test_a_stream_left_at_its_done_line_keeps_its_connection() -> None:
    with ScriptedServer(["a b", "c d"]) as server:

        async def main() -> None:
            client = _client(server.base_url)
            for _ in range(2):
                answer = await client.send("chat/completions", STREAM, stream=True)
                async for line in answer.lines():
                    if line == "data: [DONE]":
                        break  # the body's terminator is still to come
                await answer.aclose()
            await client.aclose()

        asyncio.run(main())
        assert server.connections == 1


def test_a_body_abandoned_midway_drops_its_connection_quickly() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)  # the rest never comes

    async def test(url: str) -> float:
        client = _client(url)
        answer = await client.send("/", b"{}", stream=True)
        async for line in answer.lines():
            assert line == "first"
            break
        loop = asyncio.get_running_loop()
        start = loop.time()
        await answer.aclose()
        closed = loop.time() - start
        assert "idle=0" in repr(client)
        await client.aclose()
        return closed

    assert asyncio.run(_with_server(handler, test)) < 1.0


def test_the_provider_imports_no_httpx_for_a_plain_http_server() -> None:
    code = (
        "import asyncio, sys\n"
        "from victor_core.providers import ProviderConfig\n"
        "from victor_core.testing import ScriptedServer\n"
        "from victor_openai_provider import OpenAICompatibleProvider\n"
        "with ScriptedServer(['hello']) as server:\n"
        "    p = OpenAICompatibleProvider(ProviderConfig(name='openai-compatible',"
        " base_url=server.base_url, model='m'))\n"
        "    async def main():\n"
        "        try:\n"
        "            return await p.complete([{'role': 'user', 'content': 'hi'}])\n"
        "        finally:\n"
        "            await p.aclose()\n"
        "    print(asyncio.run(main()), 'httpx' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hello", "False"]


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"abcde",
            id="chunk-extensions-and-trailers",
        ),
        pytest.param(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"ok",
            id="informational-answer-skipped",
        ),
        pytest.param(b"HTTP/1.1 204 No Content\r\n\r\n", b"", id="no-content"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", b"ok", id="repeated-length"
        ),
        pytest.param(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", b"ok", id="no-reason"),
        pytest.param(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", b"ok", id="bare-line-feeds"),
    ],
)
def test_every_framing_of_a_body_is_read_and_its_connection_kept(
    answer: bytes, body: bytes
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await _read_request(reader)
            writer.write(answer)
            await writer.drain()

    async def test(url: str) -> tuple[list[bytes], str]:
        client = _client(url)
        bodies = [await (await client.send("/", b"{}")).read() for _ in range(2)]
        state = repr(client)
        await client.aclose()
        return bodies, state

    bodies, state = asyncio.run(_with_server(handler, test))
    assert bodies == [body, body]
    assert "idle=1" in state  # one connection, kept alive after each whole answer


def test_a_folded_header_continues_the_one_before() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async def test(url: str) -> str:
        client = _client(url)
        answer = await client.send("/", b"{}")
        await client.aclose()
        return answer.headers["x-long"]

    assert asyncio.run(_with_server(handler, test)) == "one two"


@pytest.mark.parametrize(
    ("answer", "text", "hang_up"),
    [
        pytest.param(
            _answer(b"bye", extra=b"Connection: close\r\n"), "bye", False, id="connection-close"
        ),
        pytest.param(
            _answer(b"bye").replace(b"HTTP/1.1", b"HTTP/1.0", 1), "bye", False, id="http-1.0"
        ),
        pytest.param(
            # No Content-Length: the body ends when the server hangs up.
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it",
            "all of it",
            True,
            id="ended-by-closing",
        ),
    ],
)
def test_an_answer_the_server_will_close_is_read_whole_and_not_kept(
    answer: bytes, text: str, hang_up: bool
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        if hang_up:
            writer.close()
        else:
            await asyncio.sleep(5)  # open: the client must drop the connection itself

    async def test(url: str) -> tuple[str, str]:
        client = _client(url)
        got = await client.send("/", b"{}")
        state = repr(client)
        await client.aclose()
        return got.text, state

    got, state = asyncio.run(_with_server(handler, test))
    assert got == text
    assert "idle=0" in state  # a connection the server closes is not kept


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer k\r\nX-Evil: 1"}, {"Bad Name": "v"}, {"X-Nul": "a\0b"}],
    ids=["line-break", "space-in-name", "nul"],
)
def test_a_header_that_would_break_the_request_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="header"):
        PlainHttpClient("http://127.0.0.1:1", headers=headers)


def test_given_headers_replace_the_defaults_whatever_their_case() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await _read_request(reader))
        writer.write(_answer(b""))
        await writer.drain()

    async def test(url: str) -> None:
        client = _client(url, headers={"user-agent": "mine/1"})
        await client.send("/", b"")
        await client.aclose()

    asyncio.run(_with_server(handler, test))
    lines = received[0].lower().split(b"\r\n")
    assert [line for line in lines if line.startswith(b"user-agent")] == [b"user-agent: mine/1"]


def test_requests_beyond_max_connections_wait_for_a_free_one() -> None:
    with ScriptedServer(["slow"] * 6, delay=0.05) as server:

        async def main() -> tuple[list[int], str]:
            client = _client(server.base_url, max_connections=2, max_keepalive=2)
            answers = await asyncio.gather(
                *(client.send("chat/completions", CHAT) for _ in range(6))
            )
            state = repr(client)
            await client.aclose()
            return [answer.status for answer in answers], state

        statuses, state = asyncio.run(main())
        assert statuses == [200] * 6
        assert server.connections == 2  # four requests waited and reused a connection
        assert "idle=2" in state


def test_waiting_for_a_free_connection_is_bounded_by_the_timeout() -> None:
    with ScriptedServer(["a b c", "d e f"]) as server:

        async def main() -> str:
            client = _client(server.base_url, max_connections=1, timeout=0.3)
            held = await client.send("chat/completions", STREAM, stream=True)  # holds the slot
            try:
                with pytest.raises(TimedOut, match=r"pool timed out after 0\.3 s"):
                    await client.send("chat/completions", CHAT)
            finally:
                await held.aclose()
            # The slot is free again once the held answer is closed.
            answer = await client.send("chat/completions", STREAM)
            await client.aclose()
            return answer.text

        assert "data: [DONE]" in asyncio.run(main())
