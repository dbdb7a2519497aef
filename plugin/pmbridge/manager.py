"""The plugin manager: built-in and third-party plugins, loaded the same way, called through one isolating path.

``create_plugin_manager()`` is the factory (there is no global manager). Built-in plugins are modules listed in
``DEFAULT_PLUGINS`` and registered exactly like the ones found through the ``pmbridge.plugins`` entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import pluggy

from . import hookspecs
from .const import ENV_BLOCK_PLUGINS, ENV_DISABLE_AUTOLOAD, HOOK_PREFIX, PLUGIN_GROUP
from .dispatch import Asker, Dispatcher, Impl
from .errors import PluginError
from .lograte import LogRate
from .models import Change, LeverageChange

__all__ = ["DEFAULT_PLUGINS", "PluginManager", "create_plugin_manager", "hookimpl"]

log = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker("pmbridge")
"""Marker for hook implementations: ``@hookimpl`` (optional for ``pmbridge_`` functions, needed for options)."""

DEFAULT_PLUGINS: Final = ("pmbridge.builtin.logger", "pmbridge.builtin.policy")

_HISTORIC: Final = frozenset({"pmbridge_configure", "pmbridge_ready"})
_DEFAULT_OPTS: Final[pluggy.HookimplOpts] = {
    "wrapper": False,
    "hookwrapper": False,
    "optionalhook": False,
    "tryfirst": False,
    "trylast": False,
    "specname": None,
}


class PluginManager(pluggy.PluginManager):
    """A ``pluggy.PluginManager`` for the ``pmbridge`` project that isolates plugins from each other.

    Use ``notify`` for announcements, ``first`` for questions, ``collect`` to gather answers and ``historic`` for
    one-shot set-up hooks. A plugin that raises is logged with its name and counted in ``errors``; the others are
    still called.

    Until ``start_dispatch`` (a running bridge calls it) every call is made on the caller's thread. After it,
    notifications go through a ``Dispatcher`` thread that detaches a plugin which blocks or is slow, and questions
    to third-party plugins are answered within the budget (``Asker``); plugins registered with ``inline=True`` are
    still called on the notifying thread (for pmbridge's own fast, non-blocking ones that must see the book as it
    is at that instant).
    """

    def __init__(self) -> None:
        super().__init__("pmbridge")
        self.add_hookspecs(hookspecs)
        self.errors: Counter[tuple[str, str]] = Counter()
        self.distributions: dict[str, str] = {}
        self._impls: dict[str, tuple[Impl, ...]] = {}
        self._split: dict[str, tuple[tuple[Impl, ...], tuple[Impl, ...]]] = {}
        self.queued_reversed_cache: dict[str, tuple[Impl, ...]] = {}
        self._history: dict[str, Any] = {}
        self._inline: set[str] = set()
        self._trusted: set[str] = set(DEFAULT_PLUGINS)
        self._error_lock = threading.Lock()
        self._error_log = LogRate()
        self.dispatcher: Dispatcher | None = None
        self.asker: Asker | None = None

    # -- registration ----------------------------------------------------------------------------------------
    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        # Only prefixed names are ever read: a Freqtrade strategy has properties that must not be evaluated.
        if not name.startswith(HOOK_PREFIX):
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and inspect.isroutine(getattr(plugin, name, None)):
            opts = dict(_DEFAULT_OPTS)  # type: ignore[assignment]
        return opts

    def register(self, plugin: object, name: str | None = None, *, inline: bool = False) -> str | None:
        """Register ``plugin``; ``inline=True`` has it called on the notifying thread even while dispatching (it must
        never block: meant for pmbridge's own recorders that read the book at the instant of the hook)."""
        # What was announced before registration is delivered first, so the new plugin gets only what follows (and
        # the historic hooks exactly once, replayed below).
        self.flush(include_detached=False)
        try:
            registered = super().register(plugin, name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{exc} (fix the plugin's hook signature, see docs/hooks.md)") from None
        if registered is not None and inline:
            self._inline.add(registered)
            self._trusted.add(registered)
        self._clear_caches()
        if registered is not None:
            self._replay_history(registered)
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        removed = super().unregister(plugin, name)
        self._clear_caches()
        return removed

    def _clear_caches(self) -> None:
        """Who implements what changed: the per-hook call lists are rebuilt on next use."""
        self._impls.clear()
        self._split.clear()
        self.queued_reversed_cache.clear()

    def get_canonical_name(self, plugin: object) -> str:
        # A readable default: a raising plugin is logged by this name, so "140605429727120" would help nobody.
        name = getattr(plugin, "__name__", None)
        if isinstance(name, str):
            return name
        kind = type(plugin)
        return f"{kind.__module__}.{kind.__qualname__}@{id(plugin):x}"

    def blocked(self) -> list[str]:
        return sorted(name for name, plugin in self.list_name_plugin() if plugin is None)

    def check_pending(self) -> None:
        """Fail loudly, naming the plugin and the closest real hook, on any ``pmbridge_`` name that is no hook."""
        known = sorted(name for name in vars(self.hook) if not name.startswith("_") and self._has_spec(name))
        for name, caller in vars(self.hook).items():
            if name.startswith("_"):
                continue
            for impl in caller.get_hookimpls():
                if caller.spec is None and not impl.optionalhook:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} implements {name!r}, which is not a pmbridge hook{hint} "
                        f"Rename it (hooks are listed in docs/hooks.md), or mark it @hookimpl(optionalhook=True)."
                    )
                if impl.hookwrapper or impl.wrapper:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} wraps {name!r}: pmbridge calls each plugin separately so one "
                        "failure cannot stop the others, and does not support hook wrappers. Use a plain hookimpl."
                    )

    def _has_spec(self, name: str) -> bool:
        caller = getattr(self.hook, name, None)
        return caller is not None and caller.spec is not None

    # -- calling ---------------------------------------------------------------------------------------------
    def _impls_of(self, hook_name: str) -> tuple[Impl, ...]:
        impls = self._impls.get(hook_name)
        if impls is None:
            caller = getattr(self.hook, hook_name)
            # pluggy calls the last registered first (LIFO, tryfirst/trylast respected): keep that order.
            impls = tuple(
                (impl.plugin_name, impl.function, bool(impl.argnames)) for impl in reversed(caller.get_hookimpls())
            )
            self._impls[hook_name] = impls
        return impls

    def plugin_failed(self, plugin_name: str, hook_name: str) -> None:
        """Count a plugin's raise and log it (call it from the ``except``): the first with its traceback, then at
        most one line per 10 s with the count, so a plugin failing on every event neither floods the log nor slows
        everyone down formatting thousands of tracebacks."""
        with self._error_lock:  # plugins may fail on several threads at once
            self.errors[(plugin_name, hook_name)] += 1
            total = self.errors[(plugin_name, hook_name)]
        since = self._error_log.due((plugin_name, hook_name))
        if since is None:
            return
        if total == 1:
            log.exception("plugin %r raised in %s; the other plugins were still called", plugin_name, hook_name)
        else:
            log.error(
                "plugin %r raised in %s again: %d times so far, %d since the last report (the other plugins were "
                "still called each time)",
                plugin_name,
                hook_name,
                total,
                since,
                exc_info=True,
            )

    def call_isolated(
        self, plugin_name: str, hook_name: str, function: Callable[..., Any], takes_arg: bool, arg: object
    ) -> None:
        """One notification to one plugin; a raise is logged and counted, never propagated."""
        try:
            if takes_arg:
                function(arg)
            else:
                function()
        except Exception:
            self.plugin_failed(plugin_name, hook_name)

    def _split_of(self, hook_name: str) -> tuple[tuple[Impl, ...], tuple[Impl, ...]]:
        split = self._split.get(hook_name)
        if split is None:
            impls = self._impls_of(hook_name)
            inline = self._inline
            split = (
                tuple(impl for impl in impls if impl[0] in inline),
                tuple(impl for impl in impls if impl[0] not in inline),
            )
            self._split[hook_name] = split
        return split

    def queued_reversed(self, hook_name: str) -> tuple[Impl, ...]:
        """The implementations the dispatcher calls (every one not registered ``inline``), last to be called first."""
        impls = self.queued_reversed_cache.get(hook_name)
        if impls is None:
            impls = self.queued_reversed_cache[hook_name] = self._split_of(hook_name)[1][::-1]
        return impls

    def notify(self, hook_name: str, arg: object) -> None:
        """Announce ``arg`` to every implementation of ``hook_name``, each isolated from the others."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            for plugin_name, function, takes_arg in self._impls_of(hook_name):
                self.call_isolated(plugin_name, hook_name, function, takes_arg, arg)
            return
        inline, queued = self._split.get(hook_name) or self._split_of(hook_name)
        for plugin_name, function, takes_arg in inline:
            self.call_isolated(plugin_name, hook_name, function, takes_arg, arg)
        if queued:
            dispatcher.put((hook_name, arg))

    def _answers(self, hook_name: str, arg: object, only: str | None = None) -> Iterator[tuple[str, Any]]:
        """Each plugin's non-None answer, lazily, in call order; a plugin that raises is logged and skipped.

        While dispatching, a third-party plugin answers within the budget or is skipped (``Asker``)."""
        asker = self.asker
        for plugin_name, function, takes_arg in self._impls_of(hook_name):
            if only is not None and plugin_name != only:
                continue
            args = (arg,) if takes_arg else ()
            try:
                if asker is None or plugin_name in self._trusted:
                    answer = function(*args)
                else:
                    answered, answer = asker.ask(plugin_name, hook_name, function, args)
                    if not answered:
                        continue
            except Exception:
                self.plugin_failed(plugin_name, hook_name)
                continue
            if answer is not None:
                yield plugin_name, answer

    # -- dispatching -----------------------------------------------------------------------------------------
    def start_dispatch(self, budget: float) -> None:
        """From now on notify through a dispatcher thread, and bound answers to ``budget`` seconds."""
        if self.dispatcher is not None:
            raise PluginError("this plugin manager is already dispatching (one running bridge per plugin manager)")
        self.asker = Asker(budget)
        self.dispatcher = Dispatcher(self, budget)

    def stop_dispatch(self, timeout: float = 5.0) -> list[str]:
        """Deliver what is queued (up to ``timeout`` s), then call plugins on the caller's thread again.

        Returns the plugins that were still busy (a stuck one is left to its daemon thread)."""
        dispatcher, asker = self.dispatcher, self.asker
        if dispatcher is None or asker is None:
            return []
        unfinished = dispatcher.close(timeout)
        asker.close()
        self.dispatcher = self.asker = None
        if unfinished:
            log.warning(
                "plugins %s were still busy %.1f s after the bridge stopped; left to finish on their own threads",
                ", ".join(repr(name) for name in unfinished),
                timeout,
            )
        return unfinished

    def flush(self, timeout: float = 5.0, include_detached: bool = True) -> bool:
        """Wait until every notification queued so far has reached the plugins; True if it did within ``timeout``.

        ``include_detached=False`` waits for the hook thread only, not for plugins detached to their own."""
        dispatcher = self.dispatcher
        return True if dispatcher is None else dispatcher.flush(timeout, include_detached)

    def announce(self, changes: Iterable[Change]) -> None:
        """Each change through its hook: leverage to ``pmbridge_leverage_changed``, flags to the mode hook."""
        notify = self.notify
        for change in changes:
            if type(change) is LeverageChange:
                notify("pmbridge_leverage_changed", change)
            else:
                notify("pmbridge_account_mode_changed", change)

    def first(self, hook_name: str, arg: object) -> Any:
        """Ask ``hook_name``; the first non-None answer wins (later plugins are not called)."""
        return next((answer for _name, answer in self._answers(hook_name, arg)), None)

    def collect(self, hook_name: str, arg: object) -> list[tuple[str, Any]]:
        """Every plugin's non-None answer to ``hook_name``, as ``(plugin name, answer)``."""
        return list(self._answers(hook_name, arg))

    def historic(self, hook_name: str, arg: object) -> None:
        """Call a one-shot set-up hook now, and remember it for plugins registered later."""
        if hook_name not in _HISTORIC:
            raise PluginError(f"{hook_name} is not a historic hook; use notify() (historic: {sorted(_HISTORIC)})")
        if hook_name in self._history:
            raise PluginError(f"{hook_name} was already called on this plugin manager; it is one-shot")
        self._history[hook_name] = arg
        self.notify(hook_name, arg)

    def _replay_history(self, registered: str) -> None:
        for hook_name, arg in self._history.items():
            for _answer in self._answers(hook_name, arg, only=registered):
                pass

    # -- introspection ---------------------------------------------------------------------------------------
    def describe(self) -> list[dict[str, Any]]:
        """Every registered plugin with its hooks and distribution, for diagnostics and ``pmbridge doctor``."""
        rows = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:  # a blocked name
                continue
            hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or ())
            rows.append({"name": name, "hooks": hooks, "distribution": self.distributions.get(name, "pmbridge")})
        return sorted(rows, key=lambda row: row["name"])

    def error_counts(self) -> dict[str, int]:
        return {f"{plugin}:{hook}": count for (plugin, hook), count in sorted(self.errors.items())}

    def isolation(self) -> dict[str, Any]:
        """For diagnostics: the budget, detached plugins and their backlog, unanswered questions."""
        dispatcher, asker = self.dispatcher, self.asker
        if dispatcher is None or asker is None:
            return {"dispatching": False}
        timeouts = {f"{plugin}:{hook}": count for (plugin, hook), count in sorted(asker.timeouts.items())}
        return {"dispatching": True, **dispatcher.stats(), "answer_timeouts": timeouts}


def _blocked_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(ENV_BLOCK_PLUGINS, "").split(",") if name.strip()}


def _autoload_disabled() -> bool:
    return os.environ.get(ENV_DISABLE_AUTOLOAD, "").strip().lower() not in ("", "0", "false", "no")


def _load_entry_points(pm: PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        if pm.is_blocked(ep.name):
            log.info("plugin %r is blocked and was not loaded", ep.name)
            continue
        dist = ep.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
        if pm.get_plugin(ep.name) is not None:
            log.warning("plugin name %r from %s is already taken; the second one was not loaded", ep.name, origin)
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}, from {origin}) failed to import: {exc!r}. Fix or uninstall it, "
                f"or skip it with {ENV_BLOCK_PLUGINS}={ep.name}"
            ) from exc
        pm.register(plugin, name=ep.name)
        pm.distributions[ep.name] = origin


def create_plugin_manager(
    *,
    plugins: Sequence[object] = (),
    block: Iterable[str] = (),
    load_entrypoints: bool = True,
) -> PluginManager:
    """A new plugin manager with the built-in plugins, the installed ones (``pmbridge.plugins``) and ``plugins``.

    ``block`` (and the comma-separated ``PMBRIDGE_BLOCK_PLUGINS``) names plugins not to load, built-in ones included;
    ``PMBRIDGE_DISABLE_PLUGIN_AUTOLOAD=1`` or ``load_entrypoints=False`` skips the entry points. Raises
    ``PluginError`` if a plugin fails to import or implements a hook that does not exist.
    """
    pm = PluginManager()
    for name in {*block, *_blocked_from_env()}:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    if load_entrypoints and not _autoload_disabled():
        _load_entry_points(pm)
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm
