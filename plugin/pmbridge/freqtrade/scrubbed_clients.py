"""Freqtrade's ccxt clients, made to quote their requests without secrets.

ccxt puts the request's URL in the message of a network error, a timeout and an HTTP error it has no Binance code for
(``binance GET https://papi.binance.com/papi/v1/um/order?...&signature=...``). Freqtrade logs that message on each
retry (``fetch_order() returned exception: ...``), may send it to Telegram and stores it with the order. And at
``-vvv`` Freqtrade sets ccxt's logger to DEBUG, where ccxt logs every request with its URL and its API-key header.
A signature is good for one request within its ``recvWindow``, but pmbridge's rule is that no secret reaches a log:
the Freqtrade clients pmbridge builds (``PMBinance``) or runs beside (the mixin, in a live bot) are scrubbed.
"""

from __future__ import annotations

import inspect
from typing import Any

import ccxt

from ..redact import ScrubbingLogger, scrub


def scrub_client(api: Any) -> bool:
    """From now on, the errors and DEBUG lines of the ccxt client ``api`` quote its requests without secrets.

    Wraps the client's one request method, ``fetch`` (synchronous or a coroutine), and masks the message of each ccxt
    error it raises in place: its class, traceback and cause stay, so Freqtrade handles it as before. Gives the client
    a scrubbing logger, as pmbridge's own client has. Secret-looking runs go (the signature, a listenKey, the API key
    in a header), and the client's key and secret by value. Idempotent: ``False`` when ``api`` has no ``fetch`` or is
    scrubbed already.
    """
    fetch = getattr(api, "fetch", None)
    if fetch is None or getattr(fetch, "pmbridge_scrubbed", False):
        return False

    def secrets() -> tuple[str, ...]:
        return tuple(value for value in (getattr(api, "apiKey", None), getattr(api, "secret", None)) if value)

    def mask(exc: ccxt.BaseError) -> None:
        exc.args = tuple(scrub(arg, secrets()) if isinstance(arg, str) else arg for arg in exc.args)

    if inspect.iscoroutinefunction(fetch):

        async def scrubbed(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fetch(*args, **kwargs)
            except ccxt.BaseError as exc:
                mask(exc)
                raise

    else:

        def scrubbed(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]  # the other branch's twin
            try:
                return fetch(*args, **kwargs)
            except ccxt.BaseError as exc:
                mask(exc)
                raise

    scrubbed.pmbridge_scrubbed = True  # type: ignore[attr-defined]
    scrubbed.__doc__ = "ccxt's fetch; its errors' messages are scrubbed of secrets by pmbridge."
    api.fetch = scrubbed
    logger = getattr(api, "logger", None)
    if logger is not None and not isinstance(logger, ScrubbingLogger):
        api.logger = ScrubbingLogger(logger, secrets())
    return True
