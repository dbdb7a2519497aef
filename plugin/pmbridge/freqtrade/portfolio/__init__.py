"""Freqtrade on a Binance Portfolio Margin account: ``PMBinance`` and how the launcher binds it.

Freqtrade 2026.9 cannot start live on a PM account (its start-up checks call fapi, which PM keys refuse with -2015),
and would not trade correctly if it did (no papi margin-mode route, stoplosses polled at the wrong endpoint). Its
exchange resolver finds the exchange class only as an attribute of ``freqtrade.exchange``, and the exchange is built
before the strategy loads, so ``pmbridge freqtrade`` binds ``PMBinance`` there before Freqtrade's own ``main()``
runs. Nothing else in Freqtrade is touched. ``PMBinance`` (and Freqtrade's exchange code with it, ~2 s) is imported
on first use, so the launcher's config checks and refusals stay quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exchange import PMBinance, PMBinanceusdm

__all__ = ["PMBinance", "PMBinanceusdm", "install", "installed"]

EXCHANGE_NAMES = ("binance", "binanceusdm")


def install(exchange_name: str) -> type[Any]:
    """Bind the class Freqtrade's resolver will find for ``exchange_name`` (``binance`` -> ``Binance``,
    ``binanceusdm`` -> ``Binanceusdm``: it maps names with ``.title()``). Returns the class now bound."""
    import freqtrade.exchange as ft_exchange  # noqa: PLC0415

    from .exchange import PMBinance, PMBinanceusdm  # noqa: PLC0415

    name = exchange_name.lower()
    if name == "binance":
        ft_exchange.Binance = PMBinance
        return PMBinance
    if name == "binanceusdm":
        ft_exchange.Binanceusdm = PMBinanceusdm
        return PMBinanceusdm
    raise ValueError(f"Portfolio Margin exists on Binance only; exchange.name is {exchange_name!r}")


def installed() -> bool:
    """Whether this process runs Freqtrade with ``PMBinance`` (started through ``pmbridge freqtrade``)."""
    import freqtrade.exchange as ft_exchange  # noqa: PLC0415

    from .exchange import PMBinance, PMBinanceusdm  # noqa: PLC0415

    return ft_exchange.Binance is PMBinance or getattr(ft_exchange, "Binanceusdm", None) is PMBinanceusdm


def __getattr__(name: str) -> Any:
    if name in ("PMBinance", "PMBinanceusdm"):
        from . import exchange  # noqa: PLC0415 - imports Freqtrade

        return getattr(exchange, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
