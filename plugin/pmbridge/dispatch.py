"""Dispatcher: notifications reach plugins on a thread of their own, so no plugin can stop the stream.

The stream's thread (the bridge's event loop) only appends ``(hook, argument)`` to a queue. One worker thread,
``pmbridge-hooks``, takes them in order and calls every plugin, each isolated: a raise is logged and counted by the
plugin manager. A watchdog thread samples what the worker is doing every ``budget / 5`` seconds while a hook call is
in progress and *detaches* a plugin that holds the others up:

* **stuck**: one call has run for ``budget`` seconds. The plugin gets a *lane* (its own queue and thread) and a new
  worker takes over the rest of the current notification and the queue. The stuck thread finishes its call, if it
  ever does, and then serves the lane: the plugin still sees every notification, in order.
* **slow**: the plugin was the one being called in more than half of the samples of the last ``2 x budget``
  seconds while notifications were waiting. Detached the same way, between two notifications.

So the others wait at most about ``1.4 x budget`` for one stuck call, and about ``3 x budget`` behind a plugin
that is merely slow on every call. A lane holds at most ``lane_limit`` notifications; beyond that the oldest are
dropped, counted and logged once (a plugin stuck for good must not grow memory without end).

Idle costs nothing: the worker sleeps on a lock until a notification arrives, and the watchdog sleeps on another
until the worker starts a call (it parks again at its first sample that finds the worker idle), so a bridge with
nothing to announce never wakes either thread. The thread that notifies pays one ``deque.append``, plus one lock
release when the worker sleeps: a wake-up, nothing more. The worker hands each plugin the notifications of one hook
that are waiting (a *run*, usually one) in one go, and pays a lock release and acquire per plugin and run: that is
what lets the watchdog take over half-way through, with every remaining call made by exactly one thread. Each plugin
still sees every notification in order; between plugins there never was an order to keep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from operator import length_hint
from typing import TYPE_CHECKING, Any, Final

from .native import name_this_thread

if TYPE_CHECKING:
    from .manager import PluginManager

log = logging.getLogger(__name__)

# (plugin name, function, whether it takes the argument), in pluggy's call order.
Impl = tuple[str, Callable[..., Any], bool]

_STOP: Final = object()
_SLOW_WINDOW: Final = 10  # samples: 2 x budget
_SLOW_SHARE: Final = 0.5
_DONE: Final[Iterator[object]] = iter(())
_RUN: Final = 64  # notifications of one hook handed to each plugin in one go


class _Lane:
    """A detached plugin's own queue, served by one thread in order."""

    def __init__(self, plugin: str, reason: str, limit: int) -> None:
        self.plugin = plugin
        self.reason = reason
        self.limit = limit
        self.items: deque[tuple[str, Callable[..., Any], bool, object] | threading.Event] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.dropped = 0
        self.thread: threading.Thread | None = None

    def put(self, item: tuple[str, Callable[..., Any], bool, object] | threading.Event) -> None:
        with self.cond:
            if len(self.items) >= self.limit and not isinstance(item, threading.Event):
                self.items.popleft()
                self.dropped += 1
                if self.dropped == 1:
                    log.warning(
                        "plugin %r has %d notifications waiting (it is blocked or far too slow): dropping the oldest "
                        "from now on; counted in diagnostics under plugin_isolation",
                        self.plugin,
                        self.limit,
                    )
            self.items.append(item)
            self.cond.notify()

    def serve(self, pm: PluginManager) -> None:
        name_this_thread("pmbridge-lane")
        while True:
            with self.cond:
                while not self.items and not self.closed:
                    self.cond.wait()
                if not self.items:
                    return
                item = self.items.popleft()
            if isinstance(item, threading.Event):
                item.set()
                continue
            hook, function, takes_arg, arg = item
            pm.call_isolated(self.plugin, hook, function, takes_arg, arg)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()


class Dispatcher:
    """One worker thread for every plugin, a watchdog, and a lane per detached plugin. See the module docstring."""

    def __init__(self, pm: PluginManager, budget: float, lane_limit: int = 10_000) -> None:
        if not budget > 0:
            raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
        self.pm = pm
        self.budget = budget
        self.lane_limit = lane_limit
        self.tick = max(budget / 5.0, 0.002)
        self.lanes: dict[str, _Lane] = {}
        self._queue: deque[Any] = deque()
        self._append = self._queue.append
        # Two locks used as wake-up signals (released: "wake up"); each sleeper holds its own while awake.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._sleeping = False
        self._watch_wake = threading.Lock()
        self._watch_wake.acquire()
        self._watch_parked = False
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._requests: set[str] = set()
        self._stuck_lanes: dict[int, _Lane] = {}
        self._workers: set[threading.Thread] = set()  # every thread that calls plugins (flush must not wait on one)
        self._worker: threading.Thread | None = None
        # What the current worker is doing, written by that worker only, read by the watchdog.
        self._generation = 0
        self._run_no = 0
        self._impl: Impl | None = None
        """The plugin being called (None while the worker sleeps)."""
        self._it: Iterator[object] = _DONE
        self._todo: list[Impl] = []
        self._current: tuple[str, list[object]] | None = None
        self._watchdog = threading.Thread(target=self._watch, name="pmbridge-hooks-watchdog", daemon=True)
        self._spawn_worker(None)
        self._watchdog.start()

    def put(self, item: object) -> None:
        """Queue a notification ``(hook, argument)`` (or a marker); wakes the worker only if it sleeps."""
        self._append(item)
        if self._sleeping:
            self._sleeping = False
            _signal(self._wake)

    # -- the worker ------------------------------------------------------------------------------------------------
    # The worker takes a run of notifications of one hook (up to _RUN) and calls each plugin for the whole run, then
    # the next plugin. It holds ``_lock`` except while it waits for the queue and while one plugin works through the
    # run, so the watchdog, which takes the lock to detach, finds it idle or inside a plugin's run: never half-way
    # through its bookkeeping. Inside a run the worker and the watchdog share one iterator over the notifications:
    # each ``next`` is atomic, so when the watchdog takes what is left (``list(it)``) every notification goes to
    # exactly one of them, and the watchdog reads the progress from the iterator itself (``length_hint``): a call
    # costs the worker nothing but the call.
    def _spawn_worker(self, resume: tuple[str, list[object], list[Impl]] | None) -> None:
        generation = self._generation
        thread = threading.Thread(
            target=self._work, args=(generation, resume), name=f"pmbridge-hooks-{generation}", daemon=True
        )
        self._workers.add(thread)
        self._worker = thread
        thread.start()

    def _work(self, generation: int, resume: tuple[str, list[object], list[Impl]] | None) -> None:  # noqa: PLR0915
        # One function on purpose: this loop is the hot path of every notification (no call per plugin but its own).
        name_this_thread("pmbridge-hooks")
        lock = self._lock
        release, acquire = lock.release, lock.acquire
        queue = self._queue
        popleft = queue.popleft
        wake = self._wake.acquire
        watch_wake = self._watch_wake
        cache = self.pm.queued_reversed_cache
        reversed_of = self.pm.queued_reversed
        failed = self.pm.plugin_failed
        pending = resume
        acquire()
        while True:
            if pending is None:
                try:
                    item = popleft()
                except IndexError:
                    self._impl = None
                    self._current, self._it = None, _DONE  # keep nothing delivered alive while asleep
                    item = run = it = arg = _arg = following = None
                    self._sleeping = True  # then look again: put() either sees this or left an item we see
                    if not queue:
                        release()
                        wake()  # a spurious return (a wake-up left over) only costs one more look
                        acquire()
                    self._sleeping = False
                    continue
                if type(item) is not tuple:
                    if item is _STOP:
                        self._impl = None
                        self._finished.set()
                        release()
                        return
                    item.set()  # a flush marker
                    continue
                if self._requests:
                    self._detach_requested()
                hook = item[0]
                run = [item[1]]
                while queue and len(run) < _RUN:  # the same hook's next notifications, up to a marker
                    following = queue[0]
                    if type(following) is not tuple or following[0] != hook:
                        break
                    run.append(popleft()[1])
                todo = list(cache.get(hook) or reversed_of(hook))  # reversed: pop() takes from the end
            else:
                hook, run, todo = pending
                pending = None
            self._current = (hook, run)
            self._todo = todo
            lanes = self.lanes  # changes only between runs, or with the generation
            while todo:
                impl = todo.pop()
                name, function, takes_arg = impl
                if lanes and name in lanes:
                    lane = lanes[name]
                    for arg in run:
                        lane.put((hook, function, takes_arg, arg))
                    continue
                it = self._it = iter(run)
                self._impl = impl
                self._run_no += 1
                if self._watch_parked:  # after setting _impl: the watchdog re-reads it before it parks
                    self._watch_parked = False
                    _signal(watch_wake)
                release()
                if takes_arg:
                    for arg in it:
                        try:
                            function(arg)
                        except Exception:
                            failed(name, hook)
                else:
                    for _arg in it:
                        try:
                            function()
                        except Exception:
                            failed(name, hook)
                acquire()
                if self._generation != generation:  # replaced while in that call: serve its lane, then end
                    lane = self._stuck_lanes.pop(generation)
                    release()
                    lane.serve(self.pm)
                    return

    def _detach_requested(self) -> None:
        """Give the plugins the watchdog found slow their own lane (the worker, lock held, between two items)."""
        requests, self._requests = self._requests, set()
        for plugin in requests:
            if plugin not in self.lanes:
                lane = self._new_lane(plugin, "slow")
                lane.thread = threading.Thread(
                    target=lane.serve, args=(self.pm,), name=f"pmbridge-hooks-{plugin}", daemon=True
                )
                self._workers.add(lane.thread)
                lane.thread.start()

    def _new_lane(self, plugin: str, reason: str) -> _Lane:
        lane = _Lane(plugin, reason, self.lane_limit)
        self.lanes = {**self.lanes, plugin: lane}  # swapped whole: the worker reads it without a lock
        return lane

    # -- the watchdog ----------------------------------------------------------------------------------------------
    def _watch(self) -> None:
        name_this_thread("pmbridge-watch")
        finished = self._finished
        while not finished.is_set():
            self._park()
            self._watch_call()

    def _park(self) -> None:
        """Sleep until the worker starts a call (no wake-ups while no hook call is in progress)."""
        self._watch_parked = True  # then look again: the worker either sees this or set _impl, which we see
        if self._impl is None and not self._finished.is_set():
            self._watch_wake.acquire()
        self._watch_parked = False

    def _watch_call(self) -> None:
        """Sample every ``tick`` until a sample finds the worker idle; detach a stuck or slow plugin."""
        last = self._sample()
        since = time.monotonic()
        seen: deque[str | None] = deque(maxlen=_SLOW_WINDOW)
        while not self._finished.wait(self.tick):
            sample = self._sample()
            now = time.monotonic()
            calling = sample[2]
            waiting = bool(self._queue) or sample[3] > 0
            if calling is None and not waiting:
                return  # idle: park
            seen.append(calling if calling is not None and waiting else None)
            if calling is None or sample != last:
                last, since = sample, now
            elif now - since >= self.budget:
                self._detach_stuck(sample, now - since)
                last, since = (-1, -1, None, -1), now
                seen.clear()
                continue
            if len(seen) == _SLOW_WINDOW and calling is not None:
                share = seen.count(calling) / _SLOW_WINDOW
                if share > _SLOW_SHARE and calling not in self.lanes and calling not in self._requests:
                    log.warning(
                        "plugin %r took %.0f%% of the hook thread's time over the last %.1f s while notifications "
                        "waited: it now runs on its own thread, so the other plugins are not held up. Its hooks "
                        "should return quickly; hand slow work to a thread or queue of its own.",
                        calling,
                        share * 100,
                        _SLOW_WINDOW * self.tick,
                    )
                    self._requests = {*self._requests, calling}
                    seen.clear()

    def _sample(self) -> tuple[int, int, str | None, int]:
        """What the worker is doing: its generation, which plugin run, the plugin, notifications left in the run.
        Unchanged between two samples: one call has been running all along."""
        impl = self._impl
        return (self._generation, self._run_no, None if impl is None else impl[0], length_hint(self._it))

    def _detach_stuck(self, sample: tuple[int, int, str | None, int], stuck_for: float) -> None:
        generation = sample[0]
        with self._lock:  # the worker is inside a plugin's run (or idle): its bookkeeping cannot move under us
            impl, current = self._impl, self._current
            if impl is None or current is None or self._sample() != sample:
                return
            left = list(self._it)  # taken at once: the worker cannot start another call of this run
            plugin, function, takes_arg = impl
            hook = current[0]
            lane = self._stuck_lanes[generation] = self._new_lane(plugin, "stuck")
            for arg in left:
                lane.put((hook, function, takes_arg, arg))
            lane.thread = self._worker  # the stuck thread serves the lane once (if ever) its call returns
            self._generation = generation + 1
            rest, self._todo = self._todo, []
            self._spawn_worker((hook, current[1], rest))
        log.warning(
            "plugin %r has been inside one hook call for %.2f s (budget %.2f s): it now runs on its own thread and "
            "gets its notifications there, in order; the stream and the other plugins carry on. A hook must "
            "return quickly: hand blocking work to a thread of its own.",
            plugin,
            stuck_for,
            self.budget,
        )

    # -- barriers and shutdown -------------------------------------------------------------------------------------
    def flush(self, timeout: float, include_detached: bool = True) -> bool:
        """Wait until everything queued before this call was delivered (to detached plugins too, if asked)."""
        if threading.current_thread() in self._workers:
            return True  # called from a hook: waiting on ourselves would deadlock
        deadline = time.monotonic() + timeout
        if not (self._sleeping and not self._queue):  # asleep with nothing queued: all was delivered, no wake-up
            marker = threading.Event()
            self.put(marker)
            if not marker.wait(timeout):
                return False
        if include_detached:
            for lane in list(self.lanes.values()):
                marker = threading.Event()
                lane.put(marker)
                if not marker.wait(max(0.0, deadline - time.monotonic())):
                    return False
        return True

    def close(self, timeout: float) -> list[str]:
        """Deliver what is queued, then stop. Returns the detached plugins that did not finish within ``timeout``."""
        deadline = time.monotonic() + timeout
        self.put(_STOP)
        drained = self._finished.wait(timeout)
        self._finished.set()  # the watchdog ends even if the worker did not
        _signal(self._watch_wake)
        unfinished = [] if drained else ["(hook thread)"]
        for lane in list(self.lanes.values()):
            lane.close()
            thread = lane.thread
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    unfinished.append(lane.plugin)
        return unfinished

    def stats(self) -> dict[str, Any]:
        """For diagnostics: detached plugins, why, and what waits or was dropped in their lanes."""
        lanes = {
            name: {"reason": lane.reason, "waiting": len(lane.items), "dropped": lane.dropped}
            for name, lane in self.lanes.items()
        }
        return {"budget_s": self.budget, "waiting": len(self._queue), "detached": lanes}


def _signal(wake: threading.Lock) -> None:
    """Wake the thread sleeping on ``wake`` (a lock it holds while awake); a wake-up already pending is enough."""
    try:  # noqa: SIM105 - on the hot path: contextlib.suppress costs a context manager per notification
        wake.release()
    except RuntimeError:  # released already: the sleeper has not taken the last wake-up yet
        pass


class Asker:
    """Questions (``first``/``collect``) to third-party plugins, each answer within ``budget`` seconds.

    A plugin that does not answer in time is skipped for that question (the next plugin or the built-in policy
    answers) and counted; until its late call returns it is skipped at once, so a stuck plugin costs one budget.
    """

    def __init__(self, budget: float) -> None:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only bridges with such plugins need it

        self.budget = budget
        self.timeouts: Counter[tuple[str, str]] = Counter()
        self._pool = ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="pmbridge-ask", initializer=name_this_thread, initargs=("pmbridge-ask",)
        )
        self._busy: set[str] = set()

    def ask(self, plugin: str, hook: str, function: Callable[..., Any], args: tuple[object, ...]) -> tuple[bool, Any]:
        """``(True, answer)``, or ``(False, None)`` if the plugin is still busy or ran out of time."""
        from concurrent.futures import TimeoutError as FutureTimeout  # noqa: PLC0415

        if plugin in self._busy:
            self.timeouts[(plugin, hook)] += 1
            return False, None
        self._busy.add(plugin)
        future = self._pool.submit(function, *args)
        try:
            answer = future.result(self.budget)
        except FutureTimeout:
            self.timeouts[(plugin, hook)] += 1
            future.add_done_callback(lambda _f: self._busy.discard(plugin))
            log.warning(
                "plugin %r did not answer %s within %.2f s: skipped (the next plugin or the built-in policy "
                "answers); it is skipped until that call returns",
                plugin,
                hook,
                self.budget,
            )
            return False, None
        except BaseException:
            self._busy.discard(plugin)
            raise
        self._busy.discard(plugin)
        return True, answer

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
