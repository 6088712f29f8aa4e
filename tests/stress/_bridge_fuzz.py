"""Cancellation fuzzing across the bridge: random call trees against a model.

A *tree* is a Trio function (the root) whose steps sleep or call an asyncio
function through ``aio_as_trio``, whose steps sleep or call a Trio function
through ``trio_as_aio``, and so on, up to five levels.  Each call may be
guarded by a canceller of the caller's flavour:

* Trio: ``trio.move_on_after`` (caught: the step yields a marker) or
  ``trio.fail_after`` (``TooSlowError``, re-raised as ``GuardError``);
* asyncio: ``asyncio.timeout`` caught, or re-raised as ``GuardError``
  (``wait_for`` on 3.10), or ``task.cancel()`` of the call's task from a
  timer, caught by the caller.

A node returns a value built from its children's results, or raises
``NodeError``; it may sleep for ever (only a canceller ends that), its
``finally`` may take time (shielded in Trio; in asyncio an ordinary await,
which a later cancellation interrupts), and it may raise ``NodeError`` when
cancelled instead of letting the cancellation through.

Time is virtual (``MockClock`` with autojump), so the run is deterministic
and the model below can predict it exactly: the root's outcome, every
node's outcome, start and end time, that each ``finally`` ran exactly once,
and that nothing is left (no asyncio task, no Trio task in the loop's
nursery, nothing sent to the loop's exception handler).  Durations are
integers plus a distinct power of two below one per timed element, so no two
events that race can ever coincide: every race has a winner.

The model's rules (what trioloop documents, and what Trio and asyncio each
do on their own):

* a canceller that fires cancels the call it guards; the cancellation goes
  down the tree through the bridges (a Trio cancel scope cancels the asyncio
  task once; cancelling the asyncio task cancels the Trio side's scope) and
  each bridge waits for the other side to finish, cleanup included;
* the outermost canceller that has fired when the cancellation comes back up
  catches it: an inner ``move_on_after`` or ``asyncio.timeout`` does not
  swallow a cancellation that an outer one also asked for;
* a callee that saw the cancellation and still returned a value is reported
  as cancelled (documented for ``trio_as_aio``);
* an exception is never lost: one that a callee raised after the
  cancellation reached it propagates instead of the cancellation.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

import trioloop

__all__ = [
    "STATS",
    "Node",
    "Unpredictable",
    "check_tree",
    "check_drawn_tree",
    "describe",
    "fuzz_settings",
    "trees",
]

INF = math.inf
#: Timed elements per tree: each gets its own power of two (2**-1 .. 2**-K).
#: asyncio treats timers within 1 ns as due together; 2**-24 is 60 ns.
MAX_TIMED = 24
MAX_NODES = 14
MAX_DEPTH = 5
#: Virtual seconds after which a run that should have ended counts as hung.
HANG_AFTER = 1e6
HAS_ASYNCIO_TIMEOUT = sys.version_info >= (3, 11)

TRIO_GUARDS = ("move_on", "fail_after")
#: ``cancel`` needs ``Task.cancelling()`` (3.11+) to tell whose cancel it is.
AIO_GUARDS = (
    ("timeout", "timeout_raise", "cancel")
    if HAS_ASYNCIO_TIMEOUT
    else ("timeout", "timeout_raise")
)
CAUGHT = {"move_on", "timeout", "cancel"}


# -- trees -------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    id: int
    kind: str
    delay: float


@dataclass(frozen=True)
class Sleep:
    delay: float  # INF: until cancelled


@dataclass(frozen=True)
class Call:
    child: Node
    guard: Guard | None


Step = Sleep | Call


@dataclass(frozen=True)
class Node:
    id: int
    side: str  # "trio" or "aio"
    steps: tuple[Step, ...]
    raises: bool
    cleanup: float
    raise_on_cancel: bool = False

    def walk(self) -> list[Node]:
        nodes = [self]
        for step in self.steps:
            if isinstance(step, Call):
                nodes += step.child.walk()
        return nodes

    def depth(self) -> int:
        return 1 + max(
            (s.child.depth() for s in self.steps if isinstance(s, Call)), default=0
        )


def describe(node: Node, indent: str = "") -> str:
    """A tree as readable code-like text (for failure reports)."""
    head = f"{indent}{node.side} node {node.id}"
    extras = [
        "raises" if node.raises else "returns",
        f"cleanup {node.cleanup:g}" if node.cleanup else "",
        "raises on cancel" if node.raise_on_cancel else "",
    ]
    lines = [head + ": " + ", ".join(e for e in extras if e)]
    for step in node.steps:
        if isinstance(step, Sleep):
            lines.append(f"{indent}  sleep {step.delay:g}")
        else:
            g = step.guard
            guard = f" under {g.kind}({g.delay:g}) #{g.id}" if g else ""
            lines.append(f"{indent}  call{guard}:")
            lines.append(describe(step.child, indent + "    "))
    return "\n".join(lines)


@st.composite
def trees(draw: Any) -> Node:
    """Random call trees rooted in Trio, alternating flavours per level."""
    timed_left = [MAX_TIMED]
    ids = [0, 0]  # next node id, next guard id

    def timed(whole: int) -> float | None:
        """``whole`` plus this element's own binary fraction, or None when
        the tree has used up its fractions."""
        if timed_left[0] == 0:
            return None
        timed_left[0] -= 1
        return whole + 2.0 ** -(MAX_TIMED - timed_left[0])

    def node(depth: int, side: str) -> Node:
        nid = ids[0]
        ids[0] += 1
        steps: list[Step] = []
        for _ in range(draw(st.integers(0, 3))):
            if depth < MAX_DEPTH and ids[0] < MAX_NODES and draw(st.booleans()):
                guard = None
                if draw(st.booleans()):
                    kind = draw(
                        st.sampled_from(TRIO_GUARDS if side == "trio" else AIO_GUARDS)
                    )
                    delay = timed(draw(st.integers(0, 30)))
                    if delay is not None:
                        guard = Guard(ids[1], kind, delay)
                        ids[1] += 1
                child = node(depth + 1, "aio" if side == "trio" else "trio")
                steps.append(Call(child, guard))
            else:
                how = draw(st.sampled_from(("checkpoint", "timed", "timed", "forever")))
                delay = (
                    0.0
                    if how == "checkpoint"
                    else INF
                    if how == "forever"
                    else timed(draw(st.integers(0, 30)))
                )
                steps.append(Sleep(delay if delay is not None else 0.0))
        raises = draw(st.integers(0, 3)) == 0
        cleanup = (
            timed(draw(st.integers(0, 10))) if draw(st.integers(0, 2)) == 0 else None
        )
        raise_on_cancel = draw(st.integers(0, 3)) == 0
        return Node(nid, side, tuple(steps), raises, cleanup or 0.0, raise_on_cancel)

    return node(1, "trio")


# -- the model ------------------------------------------------------------------------


class Unpredictable(Exception):
    """The model cannot say what happens (a hang, or a case it leaves out)."""


@dataclass
class Result:
    kind: str  # "value", "error" or "cancelled"
    payload: Any  # the value, or the error's identity
    end: float
    cancel_seen: bool = False  # the caller's cancellation reached this node


CANCELLED = ("cancelled", None)


class Model:
    def __init__(self) -> None:
        #: node id -> (start, end, kind, payload) for every node that runs
        self.trace: dict[int, tuple[float, float, str, Any]] = {}
        self.cancelled_calls = 0

    def run(self, root: Node) -> Result:
        return self.node(root, 0.0, INF)

    @staticmethod
    def race(a: float, b: float) -> None:
        if a == b and a != INF:
            raise AssertionError(
                f"tie at {a}: the fractions should make this impossible"
            )

    def node(self, node: Node, start: float, cancel_at: float) -> Result:
        """Run ``node`` from ``start``; its caller's cancellation (through the
        bridge, or a guard around the call) reaches it at ``cancel_at``."""
        t = start
        results: list[Any] = []
        outcome: tuple[str, Any] | None = None
        for step in node.steps:
            if isinstance(step, Sleep):
                if step.delay == INF and cancel_at == INF:
                    raise Unpredictable("sleeps for ever with nothing to cancel it")
                self.race(t + step.delay, cancel_at)
                if t + step.delay < cancel_at:
                    t += step.delay
                    continue
                outcome, t = CANCELLED, cancel_at
                break
            guard = step.guard
            deadline = t + guard.delay if guard else INF
            self.race(deadline, cancel_at)
            child = self.node(step.child, t, min(cancel_at, deadline))
            t = child.end
            if (
                not HAS_ASYNCIO_TIMEOUT
                and guard is not None
                and node.side == "aio"
                and cancel_at <= t
            ):
                # 3.10's wait_for, cancelled from outside, stops waiting for a
                # call it already timed out, and drops an error the call
                # raises while cancelled: stock behaviour the model leaves out.
                raise Unpredictable("wait_for cancelled from outside on 3.10")
            seen = self.across_bridge(child)
            if seen[0] == "cancelled":
                self.cancelled_calls += 1
                if guard is not None and deadline < cancel_at:
                    self.race(cancel_at, t)
                    if cancel_at < t:  # the outer cancellation came too: it wins
                        outcome = CANCELLED
                    elif guard.kind in CAUGHT:
                        results.append((guard.kind, guard.id))
                        continue
                    else:
                        outcome = ("error", ("guard", guard.id))
                    break
                outcome = CANCELLED
                break
            if seen[0] == "error":
                outcome = seen
                break
            results.append(seen[1])
        body_end = t
        if outcome is None:
            outcome = (
                ("error", ("node", node.id))
                if node.raises
                else ("value", (node.id, tuple(results)))
            )
        elif outcome is CANCELLED and node.raise_on_cancel:
            outcome = ("error", ("node", node.id))

        if cancel_at <= body_end:  # the cancellation reached the body
            end, cancel_seen = body_end + node.cleanup, True
        elif node.side == "trio":  # shielded cleanup: nothing interrupts it
            end = body_end + node.cleanup
            self.race(cancel_at, end)
            cancel_seen = cancel_at < end
        else:
            self.race(cancel_at, body_end + node.cleanup)
            if cancel_at < body_end + node.cleanup:  # interrupts the cleanup
                outcome, end, cancel_seen = CANCELLED, cancel_at, True
            else:
                end, cancel_seen = body_end + node.cleanup, False
        self.trace[node.id] = (start, end, outcome[0], outcome[1])
        return Result(outcome[0], outcome[1], end, cancel_seen)

    def across_bridge(self, child: Result) -> tuple[str, Any]:
        """What the caller gets from a call whose callee ended as ``child``."""
        if child.kind == "error":
            return ("error", child.payload)
        if child.cancel_seen:
            return CANCELLED
        return (child.kind, child.payload)


# -- the real run -----------------------------------------------------------------------


class NodeError(Exception):
    def __init__(self, node_id: int) -> None:
        super().__init__(node_id)
        self.node_id = node_id


class GuardError(Exception):
    def __init__(self, guard_id: int) -> None:
        super().__init__(guard_id)
        self.guard_id = guard_id


def classify(exc: BaseException | None, value: Any = None) -> tuple[str, Any]:
    if exc is None:
        return ("value", value)
    if isinstance(exc, NodeError):
        return ("error", ("node", exc.node_id))
    if isinstance(exc, GuardError):
        return ("error", ("guard", exc.guard_id))
    if isinstance(exc, (trio.Cancelled, asyncio.CancelledError)):
        return CANCELLED
    return ("unexpected", f"{type(exc).__module__}.{type(exc).__qualname__}: {exc!r}")


@dataclass
class Record:
    starts: dict[int, float] = field(default_factory=dict)
    ends: dict[int, tuple[float, str, Any]] = field(default_factory=dict)
    finally_runs: dict[int, int] = field(default_factory=dict)

    def finally_ran(self, node: Node) -> None:
        self.finally_runs[node.id] = self.finally_runs.get(node.id, 0) + 1


async def trio_node(node: Node, rec: Record) -> Any:
    rec.starts[node.id] = trio.current_time()
    value = None
    try:
        try:
            results = []
            for step in node.steps:
                if isinstance(step, Sleep):
                    await (
                        trio.sleep_forever()
                        if step.delay == INF
                        else trio.sleep(step.delay)
                    )
                else:
                    results.append(await trio_call(step, rec))
            if node.raises:
                raise NodeError(node.id)
            value = (node.id, tuple(results))
        except trio.Cancelled:
            if node.raise_on_cancel:
                raise NodeError(node.id) from None
            raise
        finally:
            if node.cleanup:
                with trio.CancelScope(shield=True):
                    await trio.sleep(node.cleanup)
            rec.finally_ran(node)
    except BaseException as exc:
        rec.ends[node.id] = (trio.current_time(), *classify(exc))
        raise
    rec.ends[node.id] = (trio.current_time(), *classify(None, value))
    return value


async def trio_call(step: Call, rec: Record) -> Any:
    """A Trio node's call of an asyncio child, under its guard."""
    call = trioloop.aio_as_trio(aio_node)(step.child, rec)
    guard = step.guard
    if guard is None:
        return await call
    if guard.kind == "move_on":
        with trio.move_on_after(guard.delay):
            return await call
        return (guard.kind, guard.id)
    try:
        with trio.fail_after(guard.delay):
            return await call
    except trio.TooSlowError:
        raise GuardError(guard.id) from None


async def aio_node(node: Node, rec: Record) -> Any:
    loop = asyncio.get_running_loop()
    rec.starts[node.id] = loop.time()
    value = None
    try:
        try:
            results = []
            for step in node.steps:
                if isinstance(step, Sleep):
                    await (
                        loop.create_future()
                        if step.delay == INF
                        else asyncio.sleep(step.delay)
                    )
                else:
                    results.append(await aio_call(step, rec))
            if node.raises:
                raise NodeError(node.id)
            value = (node.id, tuple(results))
        except asyncio.CancelledError:
            if node.raise_on_cancel:
                raise NodeError(node.id) from None
            raise
        finally:
            try:
                if node.cleanup:
                    await asyncio.sleep(node.cleanup)
            finally:
                rec.finally_ran(node)
    except BaseException as exc:
        rec.ends[node.id] = (loop.time(), *classify(exc))
        raise
    rec.ends[node.id] = (loop.time(), *classify(None, value))
    return value


async def aio_call(step: Call, rec: Record) -> Any:
    """An asyncio node's call of a Trio child, under its guard."""

    async def call() -> Any:
        return await trioloop.trio_as_aio(trio_node)(step.child, rec)

    guard = step.guard
    if guard is None:
        return await call()
    if guard.kind in ("timeout", "timeout_raise"):
        try:
            if HAS_ASYNCIO_TIMEOUT:
                async with asyncio.timeout(guard.delay):  # type: ignore[attr-defined]
                    return await call()
            return await asyncio.wait_for(call(), guard.delay)
        except asyncio.TimeoutError:
            if guard.kind == "timeout":
                return (guard.kind, guard.id)
            raise GuardError(guard.id) from None
    # "cancel": the call runs as a task of its own, cancelled by a timer.
    loop = asyncio.get_running_loop()
    task = loop.create_task(call())
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = loop.call_later(guard.delay, fire)
    try:
        return await task
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if fired and me is not None and me.cancelling() == 0:  # type: ignore[attr-defined]
            return (guard.kind, guard.id)
        raise
    finally:
        timer.cancel()


@dataclass
class Observed:
    root: tuple[str, Any]
    end: float
    record: Record
    hung: bool
    tasks_left: list[str]
    trio_tasks_left: list[str]
    handler_calls: list[str]


def run_tree(root: Node) -> Observed:
    rec = Record()

    async def main() -> Observed:
        async with trioloop.open_loop() as loop:
            reports: list[str] = []
            loop.set_exception_handler(
                lambda _, ctx: reports.append(str(ctx.get("message")))
            )
            assert loop._trio.nursery is not None
            trio_tasks_before = set(loop._trio.nursery.child_tasks)
            outcome: tuple[str, Any]
            with trio.move_on_after(HANG_AFTER) as watchdog:
                try:
                    outcome = classify(None, await trio_node(root, rec))
                except BaseException as exc:
                    outcome = classify(exc)
            end = trio.current_time()
            await trio.testing.wait_all_tasks_blocked()
            gc.collect(1)  # young generations: this run's cycles, and cheap
            await trio.testing.wait_all_tasks_blocked()
            return Observed(
                root=outcome,
                end=end,
                record=rec,
                hung=watchdog.cancelled_caught,
                tasks_left=[repr(t) for t in asyncio.all_tasks(loop)],
                trio_tasks_left=[  # idle trio_as_aio workers wait to be reused
                    t.name
                    for t in set(loop._trio.nursery.child_tasks)
                    - trio_tasks_before
                    - set(loop._trio.workers.idle if loop._trio.workers else ())
                ],
                handler_calls=reports,
            )

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- the property -------------------------------------------------------------------------


@dataclass
class Stats:
    """What the fuzzing covered (figures for the stress report)."""

    examples: int = 0
    nodes: int = 0
    max_depth: int = 0
    cancelled_calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


STATS = Stats()


def check_tree(root: Node) -> None:
    """Run ``root`` for real and compare with the model; AssertionError on
    any difference (with the tree and both accounts in the message), and
    ``Unpredictable`` for a tree the model leaves out."""
    model = Model()
    expected = model.run(root)  # may raise Unpredictable
    seen = run_tree(root)
    problems = []
    if seen.hung:
        problems.append("HANG: the run never finished (virtual watchdog fired)")
    if seen.root != (expected.kind, expected.payload):
        problems.append(
            f"root outcome {seen.root}, model says {(expected.kind, expected.payload)}"
        )
    if seen.end != expected.end:
        problems.append(f"root ended at t={seen.end:g}, model says {expected.end:g}")
    for node in root.walk():
        want = model.trace.get(node.id)
        runs = seen.record.finally_runs.get(node.id, 0)
        if want is None:
            if node.id in seen.record.starts:
                problems.append(f"node {node.id} ran; the model says it never starts")
            continue
        if runs != 1:
            problems.append(f"node {node.id}: finally ran {runs} times")
        got_start = seen.record.starts.get(node.id)
        got_end = seen.record.ends.get(node.id)
        if got_start != want[0]:
            problems.append(
                f"node {node.id} started at {got_start}, model says {want[0]:g}"
            )
        if got_end is None:
            problems.append(f"node {node.id} never ended")
        elif got_end != (want[1], want[2], want[3]):
            problems.append(f"node {node.id} ended {got_end}, model says {want[1:]}")
    if seen.tasks_left:
        problems.append(f"asyncio tasks left: {seen.tasks_left}")
    if seen.trio_tasks_left:
        problems.append(
            f"Trio tasks left in the loop's nursery: {seen.trio_tasks_left}"
        )
    if seen.handler_calls:
        problems.append(f"loop exception handler called: {seen.handler_calls}")
    STATS.examples += 1
    STATS.nodes += len(model.trace)
    STATS.max_depth = max(STATS.max_depth, root.depth())
    STATS.cancelled_calls += model.cancelled_calls
    STATS.outcomes[expected.kind] = STATS.outcomes.get(expected.kind, 0) + 1
    if problems:
        raise AssertionError(
            "\n".join(
                ["bridge fuzz: run differs from the model:", *problems, describe(root)]
            )
        )


def check_drawn_tree(root: Node) -> None:
    """``check_tree`` inside a hypothesis test: trees the model leaves out
    are rejected, not failed."""
    try:
        check_tree(root)
    except Unpredictable:
        assume(False)


# -- hypothesis settings ------------------------------------------------------------------

#: "ci" (derandomized: the same examples on every run, so CI is reproducible)
#: when CI is set, else "dev" (new examples each run).  TRIOLOOP_FUZZ_PROFILE
#: overrides; TRIOLOOP_FUZZ_EXAMPLES sets the example count.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "dev",
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def fuzz_settings(examples: int) -> settings:
    profile = os.environ.get("TRIOLOOP_FUZZ_PROFILE") or (
        "ci" if os.environ.get("CI") else "dev"
    )
    count = int(os.environ.get("TRIOLOOP_FUZZ_EXAMPLES", examples))
    return settings(settings.get_profile(profile), max_examples=count)
