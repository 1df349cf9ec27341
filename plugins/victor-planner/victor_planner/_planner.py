"""The planner: score candidate actions against the goal, fill parameters, wire dependencies."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
from victor_core.models import Persona, Plan, PlanStep, Skill, Tool, signature_schema

__all__ = ["TODO_PATTERN", "GoalPlanner", "extract_parameters", "split_subgoals"]

_STOPWORD_TEXT = (
    "a an and are as at be by do does for from has have how i in into is it its me my "
    "of on or our please show tell that the their them then this to us what when where "
    "which who why will with you your all any can could should would some there"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"[a-z][a-z0-9]+")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|`([^`]+)`|“([^”]+)”")
_PATH = re.compile(
    r"(?<![\w/.-])((?:\.{1,2}/)?(?:[\w.-]+/)+[\w.-]*|[\w-]+(?:\.[\w-]+)*\.(?:py|pyi|md|rst|txt|"
    r"toml|cfg|ini|json|ya?ml|js|ts|go|rs|java|c|h|cpp|sh|html|css|sql))(?![\w/])"
)
_NUMBERED = re.compile(r"(?:^|\n|\s)\(?(\d{1,2})[.)]\s+")
_THEN = re.compile(
    r"\s*(?:,?\s*\band then\b|;\s*then\b|,\s*then\b|\bafter that\b|\bfinally\b)\s*", re.I
)
_TODO_WORDS = frozenset({"todo", "todos", "fixme", "fixmes"})

#: What a goal asking for TODOs searches: the markers in comments, not the word in prose.
TODO_PATTERN = r"(#|//|/\*|<!--)\s*(TODO|FIXME|XXX|HACK)\b"

#: Words by which a goal asks to run the project's code (a tool tagged ``executes``).
_RUN_WORDS = ("test", "pytest", "unittest", "execut", "suite")

#: Tags of a tool that runs the user's code (tests, processes).
_EXECUTES = frozenset({"executes", "runs-code"})

#: A test file or node id: what a tool running the tests may be given as ``file``.
_TEST_PATH = re.compile(r"(^|/)(test_[^/]*|[^/]*_test\.py|tests?/.*|conftest\.py)$|::")

#: Least idf-weighted word overlap for a candidate to count as matching the goal.
_MIN_OVERLAP = 0.5

#: Least persona preference for an action to be added to a plan on the persona's account.
_FAVOURITE = 1.5

#: Below this best score a goal is open ('check the project'): the persona's favourite joins.
_OPEN_GOAL = 3.0

#: Most steps planned for one goal (or one sub-goal).
MAX_STEPS = 5


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:6]


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def split_subgoals(goal: str) -> list[str]:
    """Split a goal into ordered sub-goals: a numbered list, or "... and then ..." clauses.

    Returns:
        The sub-goals (one element, the goal itself, when it has none).
    """
    text = goal.strip()
    marks = list(_NUMBERED.finditer(text))
    if len(marks) >= 2:
        parts = []
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            part = text[mark.end() : end].strip(" \n;,.")
            if part:
                parts.append(part)
        if len(parts) >= 2:
            return parts
    parts = [p.strip(" ;,.") for p in _THEN.split(text)]
    parts = [p for p in parts if p]
    return parts if len(parts) >= 2 else [text]


def extract_parameters(goal: str) -> dict[str, Any]:
    """Parameters a goal names: ``paths`` (file-like tokens) and ``patterns`` (quoted text).

    Quoted text that looks like a path counts as a path.
    """
    patterns: list[str] = []
    paths: list[str] = []
    for match in _QUOTED.finditer(goal):
        text = next(g for g in match.groups() if g is not None)
        (paths if _PATH.fullmatch(text) else patterns).append(text)
    unquoted = _QUOTED.sub(" ", goal)
    for match in _PATH.finditer(unquoted):
        token = match.group(1).rstrip(".,;:")
        if token and token not in paths and not token.startswith("http"):
            paths.append(token)
    words = set(_WORD.findall(goal.lower()))
    if not patterns and words & _TODO_WORDS:
        patterns.append(TODO_PATTERN)
    return {"paths": paths, "patterns": patterns}


@attrs.define
class _Candidate:
    name: str
    kind: str  # "tool" or "skill"
    description: str
    tags: tuple[str, ...]
    schema: Mapping[str, Any]
    rank: int
    uses: tuple[str, ...] = ()  # for skills: the tools it is composed of
    score: float = 0.0
    executes: bool = False  # runs the user's code

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.schema.get("properties", {}) or {}

    @property
    def required(self) -> list[str]:
        return list(self.schema.get("required", []) or [])

    def tagged(self, prefix: str) -> set[str]:
        return {t.split(":", 1)[1] for t in self.tags if t.startswith(prefix + ":")}


class GoalPlanner:
    """Plans goals over a fixed set of candidate tools and skills.

    Args:
        tools: the selected tools, best first (``Tool`` objects or names).
        skills: the available skills.
        persona: weights candidates by its ``tool_preferences``.
        base_params: parameters given to every step that accepts them (``path``).
        hierarchical: plan goals with sub-goals per sub-goal.
        max_steps: most steps per goal or sub-goal.
    """

    def __init__(
        self,
        tools: list[Any] | tuple[Any, ...] = (),
        skills: list[Any] | tuple[Any, ...] = (),
        *,
        persona: Persona | None = None,
        base_params: Mapping[str, Any] | None = None,
        hierarchical: bool = True,
        max_steps: int = MAX_STEPS,
    ) -> None:
        self.candidates: list[_Candidate] = []
        for rank, tool in enumerate(tools):
            if isinstance(tool, Tool):
                self.candidates.append(
                    _Candidate(
                        tool.name, "tool", tool.description, tool.tags, tool.parameters, rank
                    )
                )
            elif isinstance(tool, str):
                self.candidates.append(_Candidate(tool, "tool", "", (), {}, rank))
        for rank, skill in enumerate(skills):
            if isinstance(skill, Skill):
                self.candidates.append(
                    _Candidate(
                        skill.name,
                        "skill",
                        skill.description,
                        skill.tags,
                        signature_schema(skill.func),
                        rank,
                        uses=skill.tools,
                    )
                )
        running = {c.name for c in self.candidates if _EXECUTES & set(c.tags)} | {"run_tests"}
        for cand in self.candidates:
            cand.executes = cand.name in running or bool(running & set(cand.uses))
        self.persona = persona
        self.base_params = dict(base_params or {})
        self.hierarchical = hierarchical
        self.max_steps = max_steps
        self._idf_cache: dict[str, float] | None = None

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> GoalPlanner:
        """A planner for a ``victor_plan`` context (tools, skills, persona, settings, workspace)."""
        settings = context.get("settings")
        base = dict(context.get("params") or context.get("parameters") or {})
        if context.get("workspace") and "path" not in base:
            base["path"] = str(context["workspace"])
        persona = context.get("persona")
        return cls(
            list(context.get("tools") or ()),
            list(context.get("skills") or ()),
            persona=persona if isinstance(persona, Persona) else None,
            base_params=base,
            hierarchical=bool(getattr(settings, "enable_hierarchical_planning", True)),
        )

    # -- planning ----------------------------------------------------------------------------

    def plan(self, goal: str) -> Plan | None:
        """The plan for ``goal``, or None when there is nothing to plan with.

        A goal no candidate fits gets a plan without steps whose metadata
        says so: ``no_tool_fits`` True, ``error`` (the message, naming the
        closest candidates) and ``closest``.
        """
        if not self.candidates:
            return None
        subgoals = split_subgoals(goal) if self.hierarchical else [goal]
        steps: list[PlanStep] = []
        skipped: list[dict[str, str]] = []
        previous_leaves: tuple[str, ...] = ()
        nested = len(subgoals) > 1
        planned: set[tuple[str, str]] = set()
        for index, subgoal in enumerate(subgoals, 1):
            prefix = f"{index}." if nested else ""
            sub_steps, sub_skipped = self._plan_one(subgoal, prefix, fallback=not nested)
            skipped.extend(sub_skipped)
            # A step an earlier sub-goal already runs with the same parameters is not repeated.
            fresh = []
            for step in sub_steps:
                key = (step.action, repr(sorted(step.params.items())))
                if key not in planned:
                    planned.add(key)
                    fresh.append(step)
            kept = {s.id for s in fresh}
            sub_steps = [
                attrs.evolve(s, depends_on=tuple(d for d in s.depends_on if d in kept))
                for s in fresh
            ]
            if not sub_steps:
                continue
            if previous_leaves:
                # Sub-goals run in the order written: each waits for the one before.
                sub_steps = [
                    attrs.evolve(s, depends_on=(*s.depends_on, *previous_leaves))
                    if not s.depends_on
                    else s
                    for s in sub_steps
                ]
            consumed = {d for s in sub_steps for d in s.depends_on}
            previous_leaves = tuple(s.id for s in sub_steps if s.id not in consumed)
            steps.extend(sub_steps)
        if not steps and nested:
            steps, more = self._plan_one(goal, "", fallback=True)
            skipped.extend(more)
        if not steps:
            # An empty plan that says why: the agent fails the run with this
            # message rather than running tools the goal did not ask for.
            return Plan(
                goal=goal,
                steps=(),
                metadata={
                    "planner": "victor-planner",
                    "no_tool_fits": True,
                    "error": self._no_fit(goal, skipped),
                    "closest": self._closest(goal),
                    "skipped": skipped,
                },
            )
        return Plan(
            goal=goal,
            steps=tuple(steps),
            metadata={
                "planner": "victor-planner",
                "hierarchical": nested,
                "subgoals": subgoals if nested else [],
                "parameters": extract_parameters(goal),
                "skipped": skipped,
                "persona": self.persona.name if self.persona else None,
            },
        )

    def _no_fit(self, goal: str, skipped: list[dict[str, str]]) -> str:
        """The message for a goal no candidate fits, naming the closest ones."""
        message = f"no tool fits the goal {goal!r}; closest tools: {', '.join(self._closest(goal))}"
        if skipped:
            why = "; ".join(f"{s['action']}: {s['reason']}" for s in skipped[:3])
            message += f" (left out: {why})"
        return message

    def _closest(self, goal: str) -> list[str]:
        """The three candidates nearest to ``goal`` by word overlap (selection order on ties)."""
        goal_terms = _terms(goal)
        idf = self._idf()
        near: list[tuple[float, int, str]] = []
        for cand in self.candidates:
            name_terms, text_terms = self._terms_of(cand)
            overlap = 2.0 * sum(idf[t] for t in goal_terms & name_terms) + sum(
                idf[t] for t in goal_terms & text_terms
            )
            near.append((-overlap, cand.rank, cand.name))
        return [name for _, _, name in sorted(near)[:3]]

    def _idf(self) -> dict[str, float]:
        """Inverse document frequency of each term over the candidates' texts.

        Words most candidates share (``code``, ``project``) say little about
        which one a goal wants; rare ones (``commits``, ``complexity``) say a lot.
        """
        if self._idf_cache is None:
            texts = [self._terms_of(c) for c in self.candidates]
            df: dict[str, int] = {}
            for terms in texts:
                for term in terms[0] | terms[1]:
                    df[term] = df.get(term, 0) + 1
            n = len(texts)
            self._idf_cache = {t: math.log((n + 1) / d) for t, d in df.items()}
        return self._idf_cache

    @staticmethod
    def _terms_of(cand: _Candidate) -> tuple[set[str], set[str]]:
        name_terms = _terms(cand.name.replace("_", " ").replace("-", " "))
        # Tags such as "read-only" or "produces:files" describe how, not what.
        plain_tags = " ".join(t for t in cand.tags if not any(c in t for c in "-:"))
        text_terms = _terms(cand.description) | _terms(plain_tags)
        return name_terms, text_terms - name_terms

    def _score(self, subgoal: str) -> list[_Candidate]:
        goal_terms = _terms(subgoal)
        asks_to_run = any(w.startswith(_RUN_WORDS) for w in _WORD.findall(subgoal.lower()))
        idf = self._idf()
        scored = []
        for cand in self.candidates:
            if cand.executes and not asks_to_run:
                # Running the user's code takes a goal that asks for it.
                scored.append(attrs.evolve(cand, score=0.0))
                continue
            name_terms, text_terms = self._terms_of(cand)
            overlap = 2.0 * sum(idf[t] for t in goal_terms & name_terms) + sum(
                idf[t] for t in goal_terms & text_terms
            )
            if overlap < _MIN_OVERLAP:
                score = 0.0
            else:
                score = overlap + 0.3 / (cand.rank + 1)
                if cand.kind == "skill":
                    # A skill bundles several tools: prefer it when it matches as well.
                    score += 0.2
            score *= self._preference(cand)
            scored.append(attrs.evolve(cand, score=score))
        scored.sort(key=lambda c: (-c.score, c.rank, c.kind))
        return scored

    def _preference(self, cand: _Candidate) -> float:
        if self.persona is None:
            return 1.0
        prefs = self.persona.tool_preferences
        weight = float(prefs.get(cand.name, 1.0))
        for tag in cand.tags:
            if tag in prefs:
                weight *= float(prefs[tag])
        return weight

    def _plan_one(
        self, subgoal: str, prefix: str, *, fallback: bool
    ) -> tuple[list[PlanStep], list[dict[str, str]]]:
        params = extract_parameters(subgoal)
        scored = self._score(subgoal)
        skipped: list[dict[str, str]] = []
        feasible = []
        for cand in (c for c in scored if c.score > 0):
            missing = self._missing(cand, params)
            if missing:
                skipped.append(
                    {"action": cand.name, "reason": f"no value for {', '.join(missing)}"}
                )
            else:
                feasible.append(cand)
        best = feasible[0].score if feasible else 0.0
        chosen = [c for c in feasible if c.score >= 0.5 * best][: self.max_steps]
        # Nothing matching the words of the goal means no plan: running unrelated
        # tools would answer a question nobody asked (see ``_no_fit``).
        del fallback
        raw_best = max((c.score / (self._preference(c) or 1.0) for c in chosen), default=0.0)
        if raw_best < _OPEN_GOAL:
            chosen = self._with_persona_favourite(chosen, scored, params)
        # A skill covers its tools; a tool that the chosen skill runs is kept as a
        # step only when the skill can reuse its output.
        steps: list[PlanStep] = []
        ids: dict[str, str] = {}
        producers: dict[str, list[str]] = {}
        # Tools before skills, producers before consumers, so dependencies point back.
        ordered = sorted(chosen, key=lambda c: (c.kind != "tool", bool(c.tagged("consumes"))))
        for cand in ordered:
            if cand.name in ids:
                continue  # already added as another step's producer
            step_params, missing = self._params(cand, params)
            depends: list[str] = []
            consumed = cand.tagged("consumes")
            if consumed and "file" not in step_params:
                # It can take what it works on from an earlier step's output.
                source = next((producers[k] for k in consumed if producers.get(k)), None)
                if source is None:
                    source = self._add_producer(cand, params, prefix, scored, steps, ids, producers)
                if source is not None:
                    depends.extend(source[:1])
                    missing = [m for m in missing if m != "file"]
            if missing:
                skipped.append(
                    {"action": cand.name, "reason": f"no value for {', '.join(missing)}"}
                )
                continue
            if cand.kind == "skill":
                depends.extend(ids[u] for u in cand.uses if u in ids)
            step_id = self._unique(prefix + cand.name, ids)
            ids[cand.name] = step_id
            for kind in cand.tagged("produces"):
                producers.setdefault(kind, []).append(step_id)
            steps.append(
                PlanStep(
                    id=step_id,
                    action=cand.name,
                    kind=cand.kind,
                    params=step_params,
                    depends_on=tuple(dict.fromkeys(depends)),
                    description=_describe(cand, step_params, subgoal),
                )
            )
        return steps, skipped

    def _with_persona_favourite(
        self, chosen: list[_Candidate], scored: list[_Candidate], params: Mapping[str, Any]
    ) -> list[_Candidate]:
        """Add the persona's favourite action when nothing chosen is one it prefers.

        A goal as open as "check the project" matches few words; the persona
        then says what kind of look it takes (the tester runs the tests).
        """
        if self.persona is None or not chosen:
            return chosen
        if any(self._preference(c) > 1.0 for c in chosen):
            return chosen
        favourites = sorted(
            (
                c
                for c in scored
                if self._preference(c) >= _FAVOURITE
                and c not in chosen
                and (c.score > 0 or not c.executes)
            ),
            key=lambda c: (-self._preference(c), c.kind == "tool", c.rank),
        )
        for cand in favourites:
            if not self._params(cand, params)[1]:
                return [*chosen[: self.max_steps - 1], cand]
        return chosen

    def _add_producer(  # noqa: PLR0917 - private helper sharing the planning state
        self,
        consumer: _Candidate,
        params: Mapping[str, Any],
        prefix: str,
        scored: list[_Candidate],
        steps: list[PlanStep],
        ids: dict[str, str],
        producers: dict[str, list[str]],
    ) -> list[str] | None:
        for kind in consumer.tagged("consumes"):
            # The producer that best matches the goal (search_code when a pattern is quoted).
            for cand in scored:
                if kind not in cand.tagged("produces") or cand.name in ids:
                    continue
                step_params, missing = self._params(cand, params)
                if missing:
                    continue
                step_id = self._unique(prefix + cand.name, ids)
                ids[cand.name] = step_id
                producers.setdefault(kind, []).append(step_id)
                steps.append(
                    PlanStep(
                        id=step_id,
                        action=cand.name,
                        kind=cand.kind,
                        params=step_params,
                        description=f"find {kind} for {consumer.name}",
                    )
                )
                return [step_id]
        return None

    def _missing(self, cand: _Candidate, extracted: Mapping[str, Any]) -> list[str]:
        """Required parameters the goal does not fill (a consumer's ``file`` can come later)."""
        missing = self._params(cand, extracted)[1]
        if cand.tagged("consumes"):
            missing = [m for m in missing if m != "file"]
        return missing

    def _params(
        self, cand: _Candidate, extracted: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        props = cand.properties
        out: dict[str, Any] = {k: v for k, v in self.base_params.items() if k in props}
        paths = list(extracted["paths"])
        if cand.executes:
            # A file named to review is not a test to run: such a tool runs the project's tests.
            paths = [p for p in paths if _TEST_PATH.search(p)]
        patterns = list(extracted["patterns"])
        if "pattern" in props and patterns:
            out["pattern"] = patterns[0]
        if paths:
            for key in ("file", "directory", "target"):
                if key in props:
                    out[key] = paths[0]
                    break
        missing = [r for r in cand.required if r not in out and r != "inputs"]
        return out, missing

    @staticmethod
    def _unique(step_id: str, ids: Mapping[str, str]) -> str:
        taken = set(ids.values())
        if step_id not in taken:
            return step_id
        n = 2
        while f"{step_id}-{n}" in taken:
            n += 1
        return f"{step_id}-{n}"


def _describe(cand: _Candidate, params: Mapping[str, Any], subgoal: str) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if k != "path")
    what = f"{cand.name}({shown})" if shown else cand.name
    return f"{what} for: {subgoal}"
