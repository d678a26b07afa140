"""The durable-rules engine as the rules service drives it: one engine, one thread, no timers.

What the measurements in the shared notes forced:
- The stock ``Host`` starts background dispatch threads that run actions concurrently with the
  caller on a C core without locks (segfaults); :class:`_QuietHost` never starts them, so every
  action runs inside the call that posted the message, on the engine's own thread.
- A ruleset can never be redefined or unregistered, so every table version gets its own name
  (``assignment__v7``) and a name is registered once per process.
- Live sids are capped at 1024 per ruleset and compared by a 32-bit hash, so case state is never
  kept in the engine: each evaluation posts one message under a throwaway sid and deletes it.
- Actions only record which row fired; everything else happens afterwards, outside the engine.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

import durable_rules_engine
from durable.engine import Host, MessageNotHandledException, Promise, Ruleset

from rules_service.compiler import (
    NO_MATCH_RULE,
    CompiledTable,
    RulesetError,
    compile_table,
    describe_engine_error,
    engine_error_code,
    locate_engine_error,
)
from rules_service.decision_table import DecisionTable, HitPolicy
from rules_service.facts import typed_facts
from rules_service.hits import Hit, UniqueHitError
from rules_service.input_classes import ClassCache

# Ruleset names registered in this process, by any engine: the C core keeps every one until the
# process ends, and provenance must never see two meanings under one name.
_REGISTERED: set[str] = set()
_PROBES = itertools.count()


class _RenderedRuleset(Ruleset):
    """A durable-rules ruleset created from JSON the compiler rendered.

    ``Ruleset.__init__`` serialises a dict with ``json.dumps``, which writes small and large
    floats with exponents that the engine refuses (error 204).
    """

    def __init__(
        self, name: str, host: Host, text: str, actions: Mapping[str, Callable[[Any], None]]
    ) -> None:
        self._name = name
        self._host = host
        self._actions = {rule: Promise(action) for rule, action in actions.items()}
        self._handle = durable_rules_engine.create_ruleset(name, text)
        self._definition = text


class _QuietHost(Host):
    """A Host without the background dispatch and timer threads (``_run`` does nothing)."""

    def _run(self) -> None:
        return None

    def add_rendered(self, ruleset: _RenderedRuleset) -> None:
        self._ruleset_directory[ruleset._name] = ruleset
        self._ruleset_list.append(ruleset)

    def send(self, name: str, text: str, as_fact: bool) -> Any:
        """Post (event) or assert (fact) a message already rendered as JSON; runs the actions."""
        ruleset = self._ruleset_directory[name]
        call = durable_rules_engine.assert_fact if as_fact else durable_rules_engine.assert_event

        def assert_message(message: str) -> Any:
            return ruleset._handle_result(call(ruleset._handle, message), message)

        return self._handle_function(ruleset, assert_message, text, None)


def _recorder(fired: list[int], row_index: int) -> Callable[[Any], None]:
    # One parameter only: durable-rules takes any two-parameter action for an asynchronous one
    # that never completes.
    def record(_closure: Any) -> None:
        fired.append(row_index)

    return record


def _no_row_matched(_closure: Any) -> None:
    """The catch-all rule's action: nothing to record, but the engine must run an action."""


def _refused_by_engine(text: str) -> bool:
    """Whether the engine refuses this ruleset JSON; a probe that it accepts is deleted at once
    (never posted to, so deleting it is safe and frees its memory)."""
    try:
        handle = durable_rules_engine.create_ruleset(f"probe__{next(_PROBES)}", text)
    except Exception:
        return True
    durable_rules_engine.delete_ruleset(handle)
    return False


class Engine:
    """Registered decision tables, evaluated one case at a time on the thread that made it.

    Use one per process (a worker); durable-rules holds the GIL throughout and has no locks, so
    more threads would not run faster and would crash it. Scale with processes.
    """

    def __init__(self) -> None:
        self._host = _QuietHost()
        self._thread = threading.get_ident()
        self._tables: dict[str, CompiledTable] = {}
        self._fired: list[int] = []
        self._sids = itertools.count()
        self._classes: dict[str, ClassCache] = {}

    def _check_thread(self) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                "this rules engine belongs to another thread; durable-rules has no locks, "
                "so use one engine per thread (better: per process)"
            )

    @property
    def registered(self) -> tuple[str, ...]:
        return tuple(self._tables)

    def register(self, table: DecisionTable) -> str:
        """Compile and register ``table`` as ruleset ``<name>__v<version>``; returns that name."""
        self._check_thread()
        name = table.qualified_name
        if name in _REGISTERED:
            raise RulesetError(
                f"ruleset {name} is already registered in this process and durable-rules cannot "
                "replace one; give the changed table a new version (or restart the worker)",
                table=table.name,
                version=table.version,
            )
        compiled = compile_table(table)
        actions = {rule.name: _recorder(self._fired, rule.row_index) for rule in compiled.rules}
        actions[NO_MATCH_RULE] = _no_row_matched
        text = compiled.ruleset_json()
        try:
            ruleset = _RenderedRuleset(name, self._host, text, actions)
        except Exception as error:
            raise locate_engine_error(compiled, error, _refused_by_engine) from error
        self._host.add_rendered(ruleset)
        _REGISTERED.add(name)
        self._tables[name] = compiled
        self._classes[name] = ClassCache(table)
        return name

    def evaluate_by_class(self, name: str, facts: Mapping[str, object]) -> list[Hit]:
        """:meth:`evaluate`, with the engine's answer reused for every case of the same input
        class (:mod:`rules_service.input_classes`): what the service uses on every case."""
        compiled = self._tables.get(name)
        if compiled is None:
            raise RulesetError(f"ruleset {name} is not registered with this engine")
        values = typed_facts(facts, compiled.table.fact_names)
        return self._classes[name].answer(values, lambda v: self.evaluate(name, v))

    def evaluate(self, name: str, facts: Mapping[str, object]) -> list[Hit]:
        """The hits of table ``name`` (``<table>__v<version>``) for one case's ``facts``.

        Raises ``FactError`` for a value not of its fact's declared type, ``UniqueHitError`` when
        a UNIQUE table matches more than one row, and ``RulesetError`` for engine failures.
        """
        self._check_thread()
        compiled = self._tables.get(name)
        if compiled is None:
            raise RulesetError(f"ruleset {name} is not registered with this engine")
        table = compiled.table
        values = typed_facts(facts, table.fact_names)
        sid = f"e{next(self._sids)}"
        message = compiled.message_json(values, sid)
        self._fired.clear()
        try:
            state = self._host.send(name, message, compiled.as_fact)
        except MessageNotHandledException:
            # Cannot happen with the catch-all rule; deleting this state could crash the
            # process (uninitialised action context), so it is left and reported instead.
            raise RulesetError(
                "the engine handled no rule for this case, not even the catch-all",
                table=table.name,
                version=table.version,
            ) from None
        except durable_rules_engine.error as error:
            # The message was refused before any state was created: nothing to delete.
            raise RulesetError(
                describe_engine_error(error),
                code=engine_error_code(error),
                table=table.name,
                version=table.version,
            ) from error
        self._host.delete_state(name, sid)
        if state and "exception" in state:
            raise RulesetError(
                f"an action failed inside the engine: {state['exception']}",
                table=table.name,
                version=table.version,
            )
        # A cell such as ``< 10, > 100`` compiles to ``$or``, which durable-rules expands into
        # one rule per branch: with a fact, a row fires once per matching branch.
        rows = [table.rows[index] for index in dict.fromkeys(self._fired)]
        if table.hit_policy is HitPolicy.UNIQUE and len(rows) > 1:
            raise UniqueHitError(name, [row.id for row in rows])
        return [Hit(row.id, dict(row.then)) for row in rows]
