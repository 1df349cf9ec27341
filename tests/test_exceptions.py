"""The one exception tree: its relations, and that victor-core raises nothing else.

Every error victor-core raises derives from :class:`VictorError` and the
built-in a caller would catch; :func:`test_no_builtin_exception_is_raised`
reads the package's source and fails on a ``raise ValueError(...)`` and kin.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path

import pluggy
import pytest

import victor_core
from victor_core import exceptions, settings
from victor_core.exceptions import (
    ArgumentTypeError,
    InvalidArgumentError,
    MemoryArgumentError,
    PluginValidationError,
    StepNotFoundError,
    UnencodableValueError,
    VictorError,
)

PACKAGE = Path(victor_core.__file__).parent
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)

# Raises of built-in exceptions still present in modules maintained apart from
# this tree, each as (path relative to the package, exception name). An entry
# whose raise is gone fails test_pending_entries_are_still_needed: remove it then.
_PENDING: set[tuple[str, str]] = set()


def _raised_name(node: ast.Raise) -> str | None:
    """The name raised by ``raise X`` / ``raise X(...)`` / ``raise builtins.X(...)``."""
    exc = node.exc
    if isinstance(exc, ast.Call):
        exc = exc.func
    if isinstance(exc, ast.Name):
        return exc.id
    if (
        isinstance(exc, ast.Attribute)
        and isinstance(exc.value, ast.Name)
        and exc.value.id == "builtins"
    ):
        return exc.attr
    return None


def _handler_names(handler: ast.ExceptHandler) -> set[str]:
    kind = handler.type
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return {k.id for k in kinds if isinstance(k, ast.Name)}


def _is_abstract(func: ast.AST | None) -> bool:
    """A function whose body is only a docstring and ``raise NotImplementedError``."""
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = [
        stmt
        for stmt in func.body
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
    ]
    return len(body) == 1 and isinstance(body[0], ast.Raise)


def _allowed(name: str, chain: list[ast.AST]) -> bool:
    """Whether a raise of the built-in ``name`` under the ancestors ``chain`` is fine.

    - ``NotImplementedError`` as the whole body of an abstract method;
    - ``AttributeError`` in ``__getattr__``: the attribute protocol requires
      exactly that class (``hasattr``, ``getattr(obj, name, default)``);
    - a raise caught by a handler of the same ``try`` in the same function:
      control flow, the exception never leaves victor-core.
    """
    func = next(
        (n for n in reversed(chain) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))),
        None,
    )
    if name == "NotImplementedError" and _is_abstract(func):
        return True
    if name == "AttributeError" and getattr(func, "name", None) == "__getattr__":
        return True
    for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
        if parent is func:
            break
        if (
            isinstance(parent, ast.Try)
            and child in parent.body
            and any(name in _handler_names(h) for h in parent.handlers if h.type is not None)
        ):
            return True
    return False


def builtin_raises(root: Path) -> list[tuple[str, int, str]]:
    """Every ``raise`` of a built-in exception under ``root`` that no rule allows."""
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, chain: list[ast.AST], rel: str) -> None:
        chain = [*chain, node]
        if isinstance(node, ast.Raise) and node.exc is not None:
            name = _raised_name(node)
            if name in BUILTIN_EXCEPTIONS and not _allowed(name, chain):
                found.append((rel, node.lineno, name))
        for child in ast.iter_child_nodes(node):
            visit(child, chain, rel)

    for path in sorted(root.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), [], path.relative_to(root).as_posix())
    return found


def test_no_builtin_exception_is_raised() -> None:
    found = builtin_raises(PACKAGE)
    assert [f"{p}:{line}: {n}" for p, line, n in found if (p, n) not in _PENDING] == []


def test_pending_entries_are_still_needed() -> None:
    still = {(p, n) for p, _, n in builtin_raises(PACKAGE)}
    assert _PENDING - still == set()


def test_the_check_sees_builtin_raises(tmp_path: Path) -> None:
    # The walker must find what it forbids, or the check above passes vacuously.
    (tmp_path / "sample.py").write_text(
        "import builtins\n"
        "def f(x):\n"
        "    if x:\n"
        "        raise ValueError('bad')\n"
        "    raise builtins.TypeError\n"
        "def g():\n"
        "    try:\n"
        "        raise KeyError('k')\n"
        "    except ValueError:\n"
        "        pass\n"
        "def h():\n"
        "    '''Not abstract: it does something first.'''\n"
        "    print()\n"
        "    raise NotImplementedError\n"
        "def other():\n"
        "    raise AttributeError('outside __getattr__')\n",
        encoding="utf-8",
    )
    assert [(line, name) for _, line, name in builtin_raises(tmp_path)] == [
        (4, "ValueError"),
        (5, "TypeError"),
        (8, "KeyError"),
        (14, "NotImplementedError"),
        (16, "AttributeError"),
    ]


def test_the_check_allows_protocol_raises(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(
        "class Base:\n"
        "    def run(self):\n"
        "        '''Subclasses implement this.'''\n"
        "        raise NotImplementedError\n"
        "def __getattr__(name):\n"
        "    raise AttributeError(name)\n"
        "def parse(text):\n"
        "    try:\n"
        "        if not text:\n"
        "            raise ValueError\n"
        "    except (TypeError, ValueError):\n"
        "        raise LookupError_ from None\n"
        "def again(exc):\n"
        "    try:\n"
        "        pass\n"
        "    except Exception as exc:\n"
        "        raise\n"
        "    raise exc\n",
        encoding="utf-8",
    )
    assert builtin_raises(tmp_path) == []


def _tree_classes() -> list[type[BaseException]]:
    return [
        value
        for value in vars(exceptions).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == exceptions.__name__
    ]


def test_every_class_is_a_victor_error_and_a_builtin() -> None:
    classes = _tree_classes()
    assert len(classes) > 20
    for cls in classes:
        assert issubclass(cls, VictorError), cls
        if cls is not VictorError:
            builtin_bases = [c for c in cls.__mro__ if c.__module__ == "builtins"]
            assert builtin_bases[0] not in (BaseException, Exception, object), cls


def test_every_class_is_drawn_in_the_docstring() -> None:
    drawn = set(
        re.findall(r"^\s+(?:[│ ]*[├└]── )?([A-Z]\w+)", inspect.getdoc(exceptions) or "", re.M)
    )
    assert {cls.__name__ for cls in _tree_classes()} <= drawn


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (InvalidArgumentError, ValueError),
        (ArgumentTypeError, TypeError),
        (ArgumentTypeError, ValueError),
        (MemoryArgumentError, ValueError),
        (MemoryArgumentError, RuntimeError),
        (UnencodableValueError, TypeError),
        (exceptions.UndecodableEntry, ValueError),
        (StepNotFoundError, KeyError),
        (PluginValidationError, TypeError),
        (PluginValidationError, pluggy.PluginValidationError),
        (exceptions.SettingTypeError, TypeError),
        (exceptions.UnknownSettingError, AttributeError),
        (exceptions.ToolTimeoutError, TimeoutError),
    ],
)
def test_relations(cls: type[BaseException], builtin: type[BaseException]) -> None:
    assert issubclass(cls, builtin)
    assert issubclass(cls, VictorError)


def test_families_share_their_base() -> None:
    assert issubclass(ArgumentTypeError, InvalidArgumentError)
    assert issubclass(MemoryArgumentError, InvalidArgumentError)
    assert issubclass(MemoryArgumentError, exceptions.MemoryStoreError)
    assert issubclass(UnencodableValueError, exceptions.CacheError)
    assert issubclass(exceptions.SettingTypeError, exceptions.SettingsError)


def test_settings_re_exports_its_errors() -> None:
    assert settings.SettingTypeError is exceptions.SettingTypeError
    assert settings.UnknownSettingError is exceptions.UnknownSettingError
    with pytest.raises(exceptions.UnknownSettingError, match="max_parallel_workers"):
        victor_core.Settings(max_parallel_worker=3)  # type: ignore[call-arg]


def test_context_attributes() -> None:
    err = InvalidArgumentError("dim must be ...", argument="dim", value=3)
    assert (err.argument, err.value, str(err)) == ("dim", 3, "dim must be ...")
    mem = MemoryArgumentError("days must be >= 0 (got -1)", argument="days", value=-1)
    assert (mem.argument, mem.value) == ("days", -1)


def test_plugin_validation_error_takes_both_constructor_forms() -> None:
    ours = PluginValidationError("bad hook", plugin="p", hook="victor_tools")
    assert (str(ours), ours.plugin, ours.hook) == ("bad hook", "p", "victor_tools")
    plugin = object()
    pluggy_style = PluginValidationError(plugin, "bad hook")
    assert (str(pluggy_style), pluggy_style.plugin, pluggy_style.hook) == ("bad hook", plugin, None)
    with pytest.raises(pluggy.PluginValidationError):
        raise pluggy_style


@pytest.mark.parametrize("args", [(), ("a", "b", "c")])
def test_plugin_validation_error_rejects_other_arities(args: tuple[str, ...]) -> None:
    with pytest.raises(ArgumentTypeError, match=f"got {len(args)} positional"):
        PluginValidationError(*args)


def test_step_not_found_reads_plainly() -> None:
    err = StepNotFoundError("plan has no step 'x'; steps: a, b", step="x")
    assert str(err) == "plan has no step 'x'; steps: a, b"
    assert err.step == "x"


def test_raises_of_the_library_are_tree_classes() -> None:
    from victor_core import Tool
    from victor_core.cache.keys import tool_selection_key
    from victor_core.models import PlanResult
    from victor_core.selection import HashingEmbedder

    with pytest.raises(InvalidArgumentError, match=r"Tool\.name"):
        Tool(name="bad name", description="d", func=print)
    with pytest.raises(ArgumentTypeError, match="func must be callable"):
        Tool(name="ok", description="d", func=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="dim must be an int"):
        HashingEmbedder(dim=3)
    with pytest.raises(ArgumentTypeError, match="texts must be"):
        HashingEmbedder().embed([1])  # type: ignore[list-item]
    with pytest.raises(UnencodableValueError, match="not JSON-serialisable"):
        tool_selection_key("q", context={"x": object()})
    with pytest.raises(StepNotFoundError, match="no step 'zz'"):
        PlanResult(goal="g", steps=[])["zz"]


def test_hook_results_are_flattened_by_the_kernel_and_checked() -> None:
    from victor_core import Tool
    from victor_core.execution import flatten_hook_results

    tool = Tool(name="echo", description="d", func=print)
    assert flatten_hook_results([[tool], None, (tool,), tool], Tool, "victor_tools") == [tool] * 3
    # A plugin returning something that is neither a list nor a Tool: a clear error
    # naming the hook, not a TypeError from iterating it.
    with pytest.raises(PluginValidationError, match=r"victor_tools\(\) must return a list"):
        flatten_hook_results([5], Tool, "victor_tools")
