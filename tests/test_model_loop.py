"""The model-driven loop through its public names.

Two ways to drive it: the in-process :class:`ScriptedModel` (a provider), and
:class:`ScriptedServer` (chat completions over real HTTP on 127.0.0.1) behind
the bundled OpenAI-compatible provider. What the model was sent is asserted
on what the server received.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from victor_core import AgentOrchestrator, Settings, Tool, hookimpl
from victor_core.agent import (
    ApprovalRequest,
    RunResult,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from victor_core.plugins import PluginManager
from victor_core.testing import ScriptedFault, ScriptedModel, ScriptedServer, tool_call

pytest.importorskip("victor_openai_provider")

#: How long a tool waits for its peers at a barrier before the test fails.
MEET = 10.0


class _Tools:
    """A plugin offering ``tools`` in the tools family."""

    def __init__(self, *tools: Tool) -> None:
        self.tools = list(tools)

    @hookimpl
    def victor_tools(self) -> list[Tool]:
        return self.tools


def _settings(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "cache_dir": tmp_path / "cache",
        "data_dir": tmp_path / "data",
        "enable_semantic_memory": False,
    }
    base.update(values)
    return Settings(**base)


def _orch(settings: Settings, *plugins: Any) -> AgentOrchestrator:
    pm = PluginManager(settings, discover=False)
    for plugin in plugins:
        pm.register(plugin)
    if settings.provider == "openai":
        import victor_openai_provider.plugin as openai_plugin

        pm.register(openai_plugin)
    return AgentOrchestrator(settings, plugin_manager=pm)


def _run(orch: AgentOrchestrator, goal: str, **options: Any) -> RunResult:
    async def go() -> RunResult:
        try:
            result: RunResult = await orch.run(goal, **options)
            return result
        finally:
            await orch.aclose()

    return asyncio.run(go())


@pytest.fixture
def server() -> Iterator[Any]:
    started: list[ScriptedServer] = []

    def start(replies: Any, **options: Any) -> ScriptedServer:
        srv = ScriptedServer(replies, **options).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def _http(tmp_path: Path, srv: ScriptedServer, **values: Any) -> Settings:
    return _settings(
        tmp_path,
        provider="openai",
        provider_base_url=srv.base_url,
        provider_api_key="test-key",
        local_provider_max_retries=0,
        **values,
    )


def _scripted(tmp_path: Path, replies: Any, **values: Any) -> tuple[Settings, ScriptedModel]:
    return _settings(tmp_path, provider="scripted", **values), ScriptedModel(replies)


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m.get("role") == "tool"]


def _error_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["content"])["error"])


def count_words(text: str, min_length: int = 1, *, exact: bool = False) -> int:
    """Count the words of ``text`` at least ``min_length`` long."""
    return sum(1 for w in text.split() if len(w) >= min_length)


def fail(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"broken: {reason}")


# -- tools offered and results sent back, over HTTP --------------------------------------


def test_tool_offered_with_schema_and_result_sent_back(tmp_path: Path, server: Any) -> None:
    srv = server(
        [[tool_call("count_words", {"text": "a bb ccc", "min_length": 2}, id="c1")], "Two words."]
    )
    tool = Tool(name="count_words", description="Count words.", func=count_words)
    result = _run(_orch(_http(tmp_path, srv), _Tools(tool)), "count the words")

    assert result.ok and result.mode == "model"
    assert result.answer == "Two words."
    assert result.turns == 2
    first = srv.bodies[0]
    (offered,) = [t for t in first["tools"] if t["function"]["name"] == "count_words"]
    assert offered["type"] == "function"
    schema = offered["function"]["parameters"]
    assert schema["properties"]["text"]["type"] == "string"
    assert schema["properties"]["min_length"]["type"] == "integer"
    assert schema["required"] == ["text"]
    assert offered["function"]["description"] == "Count words."
    second = srv.bodies[1]
    assistant = [m for m in second["messages"] if m.get("role") == "assistant"][-1]
    assert assistant["tool_calls"][0]["id"] == "c1"
    (message,) = _tool_messages(second)
    assert message == {"role": "tool", "tool_call_id": "c1", "content": "2"}
    (call,) = result.tool_calls
    assert (call.name, call.arguments, call.ok, call.error, call.turn) == (
        "count_words",
        {"text": "a bb ccc", "min_length": 2},
        True,
        None,
        1,
    )
    assert call.duration_s >= 0.0
    doc = result.to_dict()
    assert set(doc["tool_calls"][0]) >= {"name", "arguments", "ok", "error", "duration_s", "turn"}
    assert doc["ok"] is True and doc["turns"] == 2


def _barrier_tools(count: int, parties: int) -> tuple[list[Tool], threading.Barrier]:
    barrier = threading.Barrier(parties, timeout=MEET)

    def make(index: int) -> Tool:
        def meet() -> int:
            barrier.wait()  # raises BrokenBarrierError unless `parties` run at once
            return index

        return Tool(name=f"meet_{index}", description="Meet the others.", func=meet)

    return [make(i) for i in range(count)], barrier


@pytest.mark.parametrize("stream", [True, False])
def test_eight_calls_of_one_turn_run_in_parallel(tmp_path: Path, server: Any, stream: bool) -> None:
    tools, _ = _barrier_tools(8, 8)
    srv = server([[tool_call(t.name, {}, id=f"id{i}") for i, t in enumerate(tools)], "done"])
    settings = _http(tmp_path, srv, max_parallel_workers=8, tool_selection_max_tools=20)
    result = _run(_orch(settings, _Tools(*tools)), "meet everyone", stream=stream)

    assert result.ok, result.errors
    assert [c.ok for c in result.tool_calls] == [True] * 8
    # Results go back in call order, each with its call id.
    messages = _tool_messages(srv.bodies[1])
    assert [(m["tool_call_id"], m["content"]) for m in messages] == [
        (f"id{i}", str(i)) for i in range(8)
    ]
    assert srv.bodies[0]["stream"] is stream


def test_max_parallel_workers_bounds_the_calls_of_a_turn(tmp_path: Path) -> None:
    lock = threading.Lock()
    running = peak = 0
    pairs = threading.Barrier(2, timeout=MEET)

    def work() -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        pairs.wait()  # two at a time meet: proves two run together
        with lock:
            running -= 1
        return "ok"

    tools = [Tool(name=f"w{i}", description="Work.", func=work) for i in range(8)]
    settings, model = _scripted(
        tmp_path, [[tool_call(t.name) for t in tools], "done"], max_parallel_workers=2
    )
    result = _run(_orch(settings, model.plugin(), _Tools(*tools)), "work", stream=False)
    assert result.ok, result.errors
    assert peak == 2


def test_streamed_tool_call_split_mid_json_is_assembled(tmp_path: Path, server: Any) -> None:
    text = "x " * 40
    srv = server(
        [[tool_call("count_words", {"text": text}, id="s1")], "Forty words."], argument_piece=3
    )
    tool = Tool(name="count_words", description="Count words.", func=count_words)
    result = _run(_orch(_http(tmp_path, srv), _Tools(tool)), "count", stream=True)
    assert result.ok, result.errors
    assert result.tool_calls[0].arguments == {"text": text}
    assert _tool_messages(srv.bodies[1])[0]["content"] == "40"
    assert result.answer == "Forty words."


def test_errors_go_back_to_the_model_and_the_loop_continues(tmp_path: Path, server: Any) -> None:
    slow_started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        slow_started.set()
        release.wait(MEET)
        return "late"

    tools = [
        Tool(name="fail", description="Fails.", func=fail),
        Tool(name="slow", description="Slow.", func=slow),
        Tool(name="count_words", description="Count.", func=count_words),
    ]
    srv = server(
        [
            [
                tool_call("fail", {"reason": "disk"}, id="f"),
                tool_call("slow", {}, id="t"),
                tool_call("no_such_tool", {}, id="u"),
                tool_call("count_words", "{not json", id="m"),
                tool_call("count_words", {"text": 3}, id="s"),
                tool_call("count_words", {"txt": "a"}, id="k"),
            ],
            "Recovered.",
        ]
    )
    settings = _http(tmp_path, srv, tool_execution_timeout=0.2)
    try:
        result = _run(_orch(settings, _Tools(*tools)), "try everything")
    finally:
        release.set()
    assert result.ok, result.errors
    assert result.answer == "Recovered."
    errors_seen = {m["tool_call_id"]: m["content"] for m in _tool_messages(srv.bodies[1])}
    assert slow_started.is_set(), errors_seen
    errors = {m["tool_call_id"]: _error_of(m) for m in _tool_messages(srv.bodies[1])}
    assert set(errors) == {"f", "t", "u", "m", "s", "k"}
    assert "broken: disk" in errors["f"]
    assert "tim" in errors["t"].lower() and "slow" in errors["t"]
    assert "unknown tool 'no_such_tool'" in errors["u"] and "count_words" in errors["u"]
    assert "not valid JSON" in errors["m"]
    assert "argument 'text' must be string (got 3)" in errors["s"]
    assert "unknown argument(s) 'txt'" in errors["k"]
    assert "missing required argument(s) 'text'" in errors["k"]
    assert [c.ok for c in result.tool_calls] == [False] * 6
    by_id = {c.id: c for c in result.tool_calls}
    assert by_id["m"].arguments == "{not json"


def test_stream_cut_mid_tool_call_fails_the_run(tmp_path: Path, server: Any) -> None:
    srv = server([ScriptedFault(cut_after=4, then=[tool_call("count_words", {"text": "a b c"})])])
    tool = Tool(name="count_words", description="Count.", func=count_words)
    result = _run(_orch(_http(tmp_path, srv), _Tools(tool)), "count", stream=True)
    assert not result.ok
    assert result.status == "provider_error"
    assert any(e.startswith("provider:") for e in result.errors)
    assert result.tool_calls == []


def test_server_error_mid_loop_fails_the_run_keeping_the_calls(tmp_path: Path, server: Any) -> None:
    srv = server([[tool_call("count_words", {"text": "a b"})], ScriptedFault(status=503)])
    tool = Tool(name="count_words", description="Count.", func=count_words)
    result = _run(_orch(_http(tmp_path, srv), _Tools(tool)), "count")
    assert not result.ok
    assert result.status == "provider_error"
    assert "503" in " ".join(result.errors)
    assert [c.name for c in result.tool_calls] == ["count_words"]
    assert result.to_dict()["ok"] is False


# -- budgets ---------------------------------------------------------------------------------


def test_a_model_that_never_stops_is_stopped_by_agent_max_turns(tmp_path: Path) -> None:
    def forever(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
        turn = sum(1 for m in messages if m.get("role") == "assistant") + 1
        return {
            "text": f"still working {turn}",
            "tool_calls": [tool_call("count_words", {"text": "a"})],
        }

    tool = Tool(name="count_words", description="Count.", func=count_words)
    settings, model = _scripted(tmp_path, forever, agent_max_turns=3)
    result = _run(_orch(settings, model.plugin(), _Tools(tool)), "loop")
    assert not result.ok
    assert result.status == "agent_max_turns"
    assert result.turns == 3
    assert len(model.requests) == 3
    assert result.answer == "still working 3"
    assert any("agent_max_turns (3)" in e for e in result.errors)
    assert len(result.tool_calls) == 2
    assert result.to_dict()["status"] == "agent_max_turns"


def test_agent_max_tool_calls_refuses_the_extra_calls(tmp_path: Path) -> None:
    tool = Tool(name="count_words", description="Count.", func=count_words)
    calls = [tool_call("count_words", {"text": "a"}, id=f"k{i}") for i in range(5)]
    settings, model = _scripted(tmp_path, [calls, "never asked"], agent_max_tool_calls=3)
    result = _run(_orch(settings, model.plugin(), _Tools(tool)), "count")
    assert not result.ok
    assert result.status == "agent_max_tool_calls"
    assert [c.ok for c in result.tool_calls] == [True, True, True, False, False]
    assert "agent_max_tool_calls (3)" in (result.tool_calls[3].error or "")
    assert any("agent_max_tool_calls (3)" in e for e in result.errors)
    assert len(model.requests) == 1


def test_agent_max_tokens_stops_the_run(tmp_path: Path) -> None:
    tool = Tool(name="count_words", description="Count.", func=count_words)
    from victor_core.providers import ModelReply, Usage

    big = ModelReply(
        tool_calls=(tool_call("count_words", {"text": "a"}),),
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=60, completion_tokens=50),
    )
    settings, model = _scripted(tmp_path, [big, "never asked"], agent_max_tokens=100)
    result = _run(_orch(settings, model.plugin(), _Tools(tool)), "count")
    assert not result.ok
    assert result.status == "agent_max_tokens"
    assert result.usage.total_tokens == 110
    assert any("agent_max_tokens (100)" in e for e in result.errors)


def test_usage_is_summed_over_turns(tmp_path: Path, server: Any) -> None:
    tool = Tool(name="count_words", description="Count.", func=count_words)
    srv = server([[tool_call("count_words", {"text": "a"})], "One word."])
    result = _run(_orch(_http(tmp_path, srv), _Tools(tool)), "count", stream=True)
    assert result.ok
    usage = result.usage
    assert usage.prompt_tokens is not None and usage.completion_tokens is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert result.to_dict()["usage"]["total_tokens"] == usage.total_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


# -- approval -------------------------------------------------------------------------------


def write_note(text: str) -> str:
    """Writes a note."""
    return f"wrote {text}"


NOTE = Tool(name="write_note", description="Write.", func=write_note, effects=("write",))
READ = Tool(name="count_words", description="Count.", func=count_words)


def _approval_run(
    tmp_path: Path, mode: str, approve: Any
) -> tuple[RunResult, ScriptedModel, list[ApprovalRequest]]:
    asked: list[ApprovalRequest] = []

    def recorder(request: ApprovalRequest) -> Any:
        asked.append(request)
        return approve(request)

    replies = [
        [
            tool_call("write_note", {"text": "hi"}, id="w"),
            tool_call("count_words", {"text": "a"}, id="r"),
        ],
        "done",
    ]
    settings, model = _scripted(tmp_path, replies, agent_approval=mode)
    result = _run(
        _orch(settings, model.plugin(), _Tools(NOTE, READ)),
        "note",
        approve=recorder if approve is not None else None,
    )
    return result, model, asked


def _tool_errors(model: ScriptedModel) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for m in model.requests[1]["messages"]:
        if m.get("role") == "tool":
            content = m["content"]
            out[m["tool_call_id"]] = (
                json.loads(content)["error"] if content.startswith('{"error"') else None
            )
    return out


def test_approval_never_runs_everything_unasked(tmp_path: Path) -> None:
    result, _, asked = _approval_run(tmp_path, "never", lambda r: False)
    assert asked == []
    assert [c.ok for c in result.tool_calls] == [True, True]


def test_approval_writes_asks_for_writes_only(tmp_path: Path) -> None:
    result, _, asked = _approval_run(tmp_path, "writes", lambda r: True)
    assert [(a.name, a.effects, a.arguments) for a in asked] == [
        ("write_note", ("write",), {"text": "hi"})
    ]
    assert [c.ok for c in result.tool_calls] == [True, True]


async def _async_no(request: ApprovalRequest) -> bool:
    return False


def test_approval_always_asks_for_every_call_and_denial_goes_back(tmp_path: Path) -> None:
    result, model, asked = _approval_run(tmp_path, "always", _async_no)
    assert sorted(a.name for a in asked) == ["count_words", "write_note"]
    assert result.ok  # the model answered after the denials
    errors = _tool_errors(model)
    assert "not approved" in (errors["w"] or "") and "not approved" in (errors["r"] or "")
    assert [c.ok for c in result.tool_calls] == [False, False]


def test_without_an_approver_held_calls_are_denied(tmp_path: Path) -> None:
    _, model, _ = _approval_run(tmp_path, "writes", None)
    errors = _tool_errors(model)
    assert "no one was asked" in (errors["w"] or "")
    assert errors["r"] is None


# -- episode, cache, events -------------------------------------------------------------------


def test_episode_records_the_tool_calls(tmp_path: Path) -> None:
    settings, model = _scripted(tmp_path, [[tool_call("count_words", {"text": "a b"})], "Two."])
    orch = _orch(settings, model.plugin(), _Tools(READ))

    async def go() -> list[Any]:
        try:
            await orch.run("count the words")
            return [e.to_dict() for e in await orch.episodic_memory.recent(5)]
        finally:
            await orch.aclose()

    (episode,) = asyncio.run(go())
    (action,) = episode["actions"]
    assert action["action"] == "count_words"
    assert action["arguments"] == {"text": "a b"}
    assert action["status"] == "ok" and action["turn"] == 1
    assert episode["outcome"]["ok"] is True


def test_the_same_model_call_is_served_from_the_response_cache(tmp_path: Path, server: Any) -> None:
    srv = server(["Cached answer.", "a second request was made"])
    # Without memory, so that the second run's prompt recalls nothing of the first.
    settings = _http(tmp_path, srv, enable_episodic_memory=False)
    first = _run(_orch(settings), "just answer", stream=False)
    second = _run(_orch(settings), "just answer", stream=False)
    assert first.answer == second.answer == "Cached answer."
    assert len(srv.bodies) == 1
    assert second.cache["response"]["hits"] == 1
    third = _run(_orch(settings), "just answer", use_cache=False, stream=False)
    assert third.answer == "a second request was made"


def test_with_memory_a_repeated_goal_is_served_from_the_response_cache(
    tmp_path: Path, server: Any
) -> None:
    # The second run recalls the first (its system prompt names it), but the
    # recalled memories are not part of the key: the same goal hits the cache.
    srv = server(["Cached answer.", "a second request was made", "other goal answered"])
    settings = _http(tmp_path, srv, enable_episodic_memory=True)
    first = _run(_orch(settings), "just answer", stream=False)
    second = _run(_orch(settings), "just answer", stream=False)
    assert second.memories >= 1
    assert first.answer == second.answer == "Cached answer."
    assert len(srv.bodies) == 1
    assert second.cache["response"] == {"hits": 1, "misses": 0}
    assert "Related memories" not in srv.bodies[0]["messages"][0]["content"]
    other = _run(_orch(settings), "answer something else", stream=False)
    assert other.answer == "a second request was made"
    # What the model is sent still carries the memories.
    assert "Related memories" in srv.bodies[1]["messages"][0]["content"]


def test_events_stream_text_and_tool_calls(tmp_path: Path, server: Any) -> None:
    srv = server([[tool_call("count_words", {"text": "a"}, id="e1")], "The answer is one."])
    orch = _orch(_http(tmp_path, srv), _Tools(READ))

    async def go() -> list[Any]:
        try:
            return [event async for event in orch.run_events("count")]
        finally:
            await orch.aclose()

    events = asyncio.run(go())
    kinds = [e.kind for e in events]
    assert kinds[-1] == "run_finished"
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(e.id, e.name) for e in started] == [("e1", "count_words")]
    assert [(e.id, e.ok) for e in finished] == [("e1", True)]
    assert kinds.index("tool_call_started") < kinds.index("tool_call_finished")
    text = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(text) > 1  # word by word, as it arrived
    assert "".join(text) == "The answer is one."
    assert all(json.dumps(e.to_dict()) for e in events[:-1])


def test_openai_environment_variables_are_honoured(
    tmp_path: Path, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = server(["From the environment."])
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    settings = _settings(tmp_path, provider="openai", local_provider_max_retries=0)
    result = _run(_orch(settings), "hello", stream=False)
    assert result.answer == "From the environment."
    assert len(srv.bodies) == 1


# -- victor run, in a child process -------------------------------------------------------------


PLUGIN_SOURCE = '''
from victor_core import Tool, hookimpl


def shout(text: str) -> str:
    """Shouts."""
    return text.upper()


def write_note(text: str) -> str:
    """Writes a note."""
    return "wrote " + text


@hookimpl
def victor_tools():
    return [
        Tool(name="shout", description="Shout the text.", func=shout),
        Tool(name="write_note", description="Write a note.", func=write_note, effects=("write",)),
    ]
'''


def _victor(
    tmp_path: Path,
    srv: ScriptedServer,
    victor_entry_points: Any,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    if not (victor_entry_points.site / "shout_tools.py").exists():
        victor_entry_points.add(
            "shout-tools",
            {"victor_core.tools": {"shout": "shout_tools"}},
            modules={"shout_tools": PLUGIN_SOURCE},
        )
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VICTOR_", "OPENAI_"))}
    env.update(extra)
    env.update(
        PYTHONPATH=os.pathsep.join([str(victor_entry_points.site), *sys.path]),
        VICTOR_PROVIDER="openai",
        VICTOR_PROVIDER_BASE_URL=srv.base_url,
        VICTOR_PROVIDER_API_KEY="k",
        VICTOR_LOCAL_PROVIDER_MAX_RETRIES="0",
        VICTOR_CACHE_DIR=str(tmp_path / "cache"),
        VICTOR_DATA_DIR=str(tmp_path / "data"),
        VICTOR_CONFIG=str(tmp_path / "none.toml"),
    )
    (tmp_path / "none.toml").write_text("")
    return subprocess.run(
        [sys.executable, "-m", "victor_core", "run", *args, "--path", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_victor_run_json_with_an_installed_plugin_tool(
    tmp_path: Path, server: Any, victor_entry_points: Any
) -> None:
    srv = server([[tool_call("shout", {"text": "hey"}, id="p1")], "It says HEY."])
    proc = _victor(tmp_path, srv, victor_entry_points, "shout hey", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["answer"] == "It says HEY."
    assert doc["turns"] == 2
    (call,) = doc["tool_calls"]
    assert (call["name"], call["arguments"], call["ok"], call["turn"]) == (
        "shout",
        {"text": "hey"},
        True,
        1,
    )
    assert _tool_messages(srv.bodies[1])[0]["content"] == "HEY"


@pytest.mark.parametrize(
    "fault",
    [
        ScriptedFault(status=500),
        ScriptedFault(cut_after=3, then=[tool_call("shout", {"text": "x"})]),
    ],
    ids=["5xx", "cut"],
)
def test_victor_run_provider_failure_exits_1_with_json(
    tmp_path: Path, server: Any, victor_entry_points: Any, fault: ScriptedFault
) -> None:
    srv = server([[tool_call("shout", {"text": "a"})], fault])
    proc = _victor(tmp_path, srv, victor_entry_points, "shout", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["status"] == "provider_error"


def test_victor_run_budget_exit_1(tmp_path: Path, server: Any, victor_entry_points: Any) -> None:
    srv = server(lambda messages, tools: [tool_call("shout", {"text": "a"})])
    proc = _victor(
        tmp_path, srv, victor_entry_points, "shout", "--json", env={"VICTOR_AGENT_MAX_TURNS": "2"}
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["status"] == "agent_max_turns"
    assert doc["turns"] == 2 and len(srv.bodies) == 2


def test_victor_run_without_a_terminal_refuses_writes_unless_yes(
    tmp_path: Path, server: Any, victor_entry_points: Any
) -> None:
    replies = [[tool_call("write_note", {"text": "x"}, id="w")], "done"]
    srv = server(list(replies))
    proc = _victor(tmp_path, srv, victor_entry_points, "note", "--json")
    doc = json.loads(proc.stdout)
    assert doc["tool_calls"][0]["ok"] is False
    assert "denied" in doc["tool_calls"][0]["error"]
    srv2 = server(list(replies))
    proc = _victor(tmp_path, srv2, victor_entry_points, "note", "--json", "--yes")
    doc = json.loads(proc.stdout)
    assert doc["tool_calls"][0]["ok"] is True, doc
    assert _tool_messages(srv2.bodies[1])[0]["content"] == "wrote x"


def test_victor_run_prints_text_and_tool_calls(
    tmp_path: Path, server: Any, victor_entry_points: Any
) -> None:
    srv = server([[tool_call("shout", {"text": "hey"})], "It says HEY."])
    proc = _victor(tmp_path, srv, victor_entry_points, "shout hey")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("It says HEY.")  # streamed text, on stdout
    # Without a terminal, progress lines on stderr are JSON log lines.
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    progress = [line["message"].strip() for line in lines if line.get("event") == "progress"]
    assert progress[0] == '... shout({"text": "hey"}) [turn 1]'
    assert progress[1].startswith("ok shout in ")
