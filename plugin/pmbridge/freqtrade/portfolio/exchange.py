"""PMBinance: Freqtrade's ``Binance`` exchange class for a Binance Portfolio Margin account (its USDⓈ-M side).

``pmbridge freqtrade`` binds it in place of ``freqtrade.exchange.Binance`` before Freqtrade starts (Freqtrade finds
its exchange class only as that module attribute, and builds the exchange before loading the strategy). Each override
answers one way stock Freqtrade 2026.9 with ccxt 4.5.9x fails on a PM account; everything else (orders, leverage,
balances, positions, trades, income, algo create and cancel) already routes to papi once ccxt's ``portfolioMargin``
option is on, and market data stays on public fapi. Line references are to the installed Freqtrade 2026.9.

What stock Freqtrade does on PM, and the override that answers it:

- ccxt talks papi only with ``options.portfolioMargin``: ``_ccxt_config`` sets it (futures only), ``_init_ccxt``
  refuses a config that turns it off.
- the start-up checks call fapi (binance.py:129,131), -2015, the bot aborts: ``additional_exchange_init`` reads papi
  ``um/positionSide/dual`` and ``um/accountConfig`` instead.
- ``set_margin_mode`` has no papi route (a fapi marginType POST before each entry and stop): a no-op, PM UM is
  cross; isolated is refused at start.
- a stop is polled at ``papi/um/order`` with the algo id (-2013, ~35 s of retries, a new stop each loop): stop
  queries go to ``papi/um/algo/algoOrder``, then ``allAlgoOrders``.
- ``free`` is the UM wallet balance, which holds only what UM trading realised (0 on a fresh account: no stake at
  all): it is ``/papi/v1/account``'s ``totalAvailableBalance`` instead (balances.py).
- a failed stop cancel leaves a stand-in result without ``type`` (KeyError in the bot loop): completed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import ccxt
from freqtrade.enums import MarginMode, TradingMode
from freqtrade.exceptions import (
    ConfigurationError,
    DDosProtection,
    InvalidOrderException,
    OperationalException,
    RetryableOrderError,
    TemporaryError,
)
from freqtrade.exchange.binance import Binance
from freqtrade.exchange.common import API_FETCH_ORDER_RETRY_COUNT, retrier
from freqtrade.misc import deep_merge_dicts

from ..scrubbed_clients import scrub_client
from .balances import pm_balances
from .compat import MIN_CCXT, align_pm_error_map, version_tuple

logger = logging.getLogger("pmbridge.freqtrade")

_STOP_FLAGS = ("stop", "trigger", "conditional")
"""The flags ccxt reads as "a conditional order"; Freqtrade sends ``stop`` (exchange.py:1796, 1870)."""


class PMBinance(Binance):  # type: ignore[misc]  # Freqtrade ships no type information
    """Binance through papi, cross margin only. Identical to ``Binance`` in spot mode."""

    pmbridge_notes: tuple[str, ...] = ()
    """Lines the launcher wants in the bot's log (Freqtrade's logging is set up only once its main() runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for note in self.pmbridge_notes:
            logger.info("pmbridge: %s", note)
        super().__init__(*args, **kwargs)

    # -- ccxt ----------------------------------------------------------------------------------------------------
    @property
    def _ccxt_config(self) -> dict[str, Any]:
        # Freqtrade merges exchange.ccxt_config over this (exchange.py:279-292). Spot stays as it is: with the option
        # on, ccxt would send spot calls to papi's margin side.
        config: dict[str, Any] = super()._ccxt_config
        if self.trading_mode == TradingMode.FUTURES:
            config = deep_merge_dicts({"options": {"portfolioMargin": True}}, config)
        return config

    def _init_ccxt(self, exchange_config: dict[str, Any], sync: bool, ccxt_kwargs: dict[str, Any]) -> Any:
        # Checked as each ccxt object is built: the first private request (the leverage tiers, exchange.py:316) comes
        # before additional_exchange_init, and would fail with -2015 on fapi.
        api = super()._init_ccxt(exchange_config, sync, ccxt_kwargs)
        scrub_client(api)  # ccxt's errors and DEBUG lines quote the signed URL, and Freqtrade logs them
        if self.trading_mode == TradingMode.FUTURES:
            if not api.options.get("portfolioMargin"):
                raise OperationalException(
                    "pmbridge.account is pm, but the exchange's ccxt_config sets options.portfolioMargin to false: "
                    "remove that setting (pmbridge sets it), or set pmbridge.account to usdm for a USDⓈ-M account."
                )
            align_pm_error_map(api)
        return api

    def _is_pm(self) -> bool:
        api = getattr(self, "_api", None)
        return self.trading_mode == TradingMode.FUTURES and api is not None and bool(api.options.get("portfolioMargin"))

    # -- start-up ------------------------------------------------------------------------------------------------
    def validate_trading_mode_and_margin_mode(
        self, trading_mode: TradingMode, margin_mode: MarginMode | None, allow_none_margin_mode: bool = False
    ) -> None:
        # PM USDⓈ-M positions are cross-margined at account level and papi has no margin-type endpoint. Refused here,
        # in Freqtrade's own config validation (exchange.py:983), so the bot stops at start like for any config
        # mistake instead of failing on its first entry.
        super().validate_trading_mode_and_margin_mode(trading_mode, margin_mode, allow_none_margin_mode)
        if trading_mode == TradingMode.FUTURES and margin_mode == MarginMode.ISOLATED:
            raise ConfigurationError(
                "Binance Portfolio Margin (pmbridge.account pm): USDⓈ-M positions are always cross margin and "
                'cannot be switched to isolated. Set "margin_mode": "cross" in the Freqtrade config.'
            )

    @retrier  # type: ignore[untyped-decorator]
    def additional_exchange_init(self) -> None:
        """The PM version of Freqtrade's start-up checks (binance.py:120-157): same gate, retrier and messages."""
        if self.trading_mode != TradingMode.FUTURES or self._config["dry_run"]:
            return
        if version_tuple(getattr(ccxt, "__version__", "0")) < MIN_CCXT:
            raise OperationalException(
                f"pmbridge freqtrade needs ccxt >= {'.'.join(map(str, MIN_CCXT))} for Portfolio Margin stoploss "
                f"orders (papi/v1/um/algo/*); installed: {ccxt.__version__}. Upgrade ccxt."
            )
        try:
            with _freqtrade_errors(
                "Error in additional_exchange_init",
                " (pmbridge: papi um/positionSide/dual and um/accountConfig; is this a Portfolio Margin account, and "
                "is the API key enabled for it?)",
            ):
                problems = self._pm_account_problems()
        except AttributeError as e:
            # Freqtrade's resolver turns an AttributeError raised in the constructor into "using the generic exchange
            # class" (exchange_resolver.py:75-84), a misleading spot-only fallback: say what is missing instead.
            raise OperationalException(f"pmbridge: ccxt lacks a papi method ({e}); upgrade ccxt") from e
        if problems:
            raise OperationalException(problems)

    def _pm_account_problems(self) -> str:
        """Why this account cannot be traded by Freqtrade (hedge mode, no UM trading), in Freqtrade's words; or ""."""
        position_side = self._api.papiGetUmPositionSideDual()
        self._log_exchange_response("position_side_setting", position_side)
        account_config = self._api.papiGetUmAccountConfig()
        self._log_exchange_response("um_account_config", account_config)
        msg = ""
        if position_side.get("dualSidePosition") is True or account_config.get("dualSidePosition") is True:
            msg += (
                "\nHedge Mode is not supported by freqtrade. "
                "Please change 'Position Mode' on your binance futures account."
            )
        if account_config.get("canTrade") is False:
            msg += "\nThis Portfolio Margin account cannot trade USDⓈ-M futures (um/accountConfig canTrade false)."
        return msg

    def load_leverage_tiers(self) -> dict[str, list[dict[str, Any]]]:
        # The first private request of a live futures bot (GET papi/v1/um/leverageBracket): with a key that may not
        # use papi, Freqtrade says only "Could not load leverage tiers"; add what to check.
        try:
            tiers: dict[str, list[dict[str, Any]]] = super().load_leverage_tiers()
            return tiers
        except TemporaryError as e:
            if not self._is_pm() or self._config["dry_run"]:
                raise
            raise TemporaryError(
                f"{e} (pmbridge: GET papi/v1/um/leverageBracket; is this a Portfolio Margin account, and is the API "
                "key enabled for it? For a USDⓈ-M futures account set pmbridge.account to usdm.)"
            ) from e

    # -- margin mode ---------------------------------------------------------------------------------------------
    def set_margin_mode(
        self, pair: str, margin_mode: MarginMode, accept_fail: bool = False, params: dict[str, Any] | None = None
    ) -> None:
        # Sent before every entry, DCA and stoploss (exchange.py:1471-1474, 1689). ccxt would POST fapi marginType
        # with the PM key; a -2015 there is a TemporaryError even with accept_fail (exchange.py:4036-4044), failing
        # every entry. On PM there is nothing to set: UM is cross.
        if self._is_pm():
            if margin_mode != MarginMode.CROSS:
                raise OperationalException(f"Portfolio Margin is cross only; cannot use {margin_mode} for {pair}")
            return
        super().set_margin_mode(pair, margin_mode, accept_fail, params)

    # -- stoploss (algo) orders ----------------------------------------------------------------------------------
    def fetch_order(self, order_id: str, pair: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        # Freqtrade polls a stoploss with params {"stop": True} (exchange.py:1794-1797). ccxt ignores the flag on PM
        # and asks papi/v1/um/order for the algo id: -2013 after ~35 s of retries, and a new stop every loop. Only
        # those queries are rerouted; Freqtrade's own follow-up (actualOrderId, exchange.py:1798-1812) is untouched.
        # Not @retrier here: each path below has its own (decorating this too would nest retries).
        if params and not self._config["dry_run"] and self._is_pm() and any(params.get(k) for k in _STOP_FLAGS):
            algo: dict[str, Any] = self._fetch_algo_order(order_id, pair)
            return algo
        order: dict[str, Any] = super().fetch_order(order_id, pair, params)
        return order

    @retrier(retries=API_FETCH_ORDER_RETRY_COUNT)  # type: ignore[untyped-decorator]
    def _fetch_algo_order(self, order_id: str, pair: str) -> dict[str, Any]:
        with _freqtrade_errors("Could not get order"):
            try:
                return self._order_contracts_to_amount(self._algo_order(order_id, pair))  # type: ignore[no-any-return]
            # Freqtrade's own mapping (exchange.py:1774-1789), so callers get the exceptions they expect.
            except ccxt.OrderNotFound as e:
                raise RetryableOrderError(f"Order not found (pair: {pair} id: {order_id}). Message: {e}") from e
            except ccxt.InvalidOrder as e:
                raise InvalidOrderException(
                    f"Tried to get an invalid order (pair: {pair} id: {order_id}). Message: {e}"
                ) from e

    def _algo_order(self, order_id: str, pair: str) -> dict[str, Any]:
        try:
            # GET /papi/v1/um/algo/algoOrder?algoId= (it answers finished orders too, with actualOrderId)
            order: dict[str, Any] = self._api.fetch_open_order(order_id, pair, params={"trigger": True})
            self._log_exchange_response("fetch_open_order", order, add_info="algo")
            return order
        except ccxt.OrderNotFound:
            # GET /papi/v1/um/algo/allAlgoOrders?symbol=&algoId= (the last 7 days)
            orders = self._api.fetch_orders(pair, params={"trigger": True, "algoId": order_id})
            self._log_exchange_response("fetch_orders", orders, add_info="algo history")
            found = next((o for o in orders if str(o.get("id")) == str(order_id)), None)
            if found is None:
                raise ccxt.OrderNotFound(f"algo order {order_id} is neither open nor in the 7-day history") from None
            return found  # type: ignore[no-any-return]

    def cancel_stoploss_order_with_result(self, order_id: str, pair: str, amount: float) -> dict[str, Any]:
        # When the re-read after a cancel fails, Freqtrade returns a stand-in without "type" and "filled"
        # (exchange.py:1930); get_order_id_conditional then reads order["type"] (exchange.py:2513): a KeyError that
        # escapes the bot loop. The plain-order twin (exchange.py:1900-1907) has them; so does this one now.
        order: dict[str, Any] = super().cancel_stoploss_order_with_result(order_id, pair, amount)
        if order.get("info") == {} and "type" not in order:
            order.setdefault("filled", 0.0)
            order["type"] = "stoploss"
        return order

    # -- balances and positions ----------------------------------------------------------------------------------
    def get_balances(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        # ccxt reports free = umWalletBalance, which holds only what UM trading realised: 0 on a fresh PM account,
        # where the collateral sits in the margin wallet (balances.py). Freqtrade's free is what the account can still
        # put up, /papi/v1/account's totalAvailableBalance; the same two reads as before (balance, then account).
        if not self._is_pm() or self._config["dry_run"]:
            balances: dict[str, Any] = super().get_balances(params) if params is not None else super().get_balances()
            return balances
        wallet: dict[str, Any] = self._pm_balances()
        return wallet

    def fetch_positions(self, pair: str | None = None, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        # papi's positionRisk has neither marginType nor isolatedMargin, so ccxt leaves collateral at 0; Freqtrade
        # up to 2026.8 dropped such positions from its wallets (2026.9 reads initialMargin first: a no-op there).
        positions: list[dict[str, Any]] = (
            super().fetch_positions(pair, params) if params is not None else super().fetch_positions(pair)
        )
        if self._is_pm():
            for position in positions:
                if not position.get("collateral") and position.get("initialMargin"):
                    position["collateral"] = position["initialMargin"]
        return positions

    @retrier  # type: ignore[untyped-decorator]
    def _pm_balances(self) -> dict[str, Any]:
        with _freqtrade_errors("Could not get balance"):
            rows = self._api.papiGetBalance()  # GET /papi/v1/balance (weight 20), what ccxt's fetch_balance reads
            account = self._api.papiGetAccount()  # GET /papi/v1/account (weight 20)
            self._log_exchange_response("pm_balance", {"balance": rows, "account": account})
            return pm_balances(
                rows if isinstance(rows, list) else [],
                account if isinstance(account, dict) else {},
                self.get_proxy_coin(),
                self._api.safe_currency_code,
            )


@contextlib.contextmanager
def _freqtrade_errors(doing: str, hint: str = "") -> Iterator[None]:
    """ccxt's errors as Freqtrade's own exchange methods turn them (exchange.py, every fetch), so its retrier and bot
    loop treat a papi call like any other: DDoS protection, a temporary error (retried), or an operational one."""
    try:
        yield
    except ccxt.DDoSProtection as e:
        raise DDosProtection(e) from e
    except (ccxt.OperationFailed, ccxt.ExchangeError) as e:
        raise TemporaryError(f"{doing} due to {e.__class__.__name__}. Message: {e}{hint}") from e
    except ccxt.BaseError as e:
        raise OperationalException(e) from e


class PMBinanceusdm(PMBinance):
    """For configs naming ``binanceusdm``: Freqtrade's ``Binanceusdm`` subclasses the original ``Binance``, so
    binding ``Binance`` does not reach it; the launcher binds this instead."""

    _supported_trading_mode_margin_pairs: ClassVar[list[tuple[TradingMode, MarginMode]]] = [
        (TradingMode.FUTURES, MarginMode.CROSS),
        (TradingMode.FUTURES, MarginMode.ISOLATED),  # kept so that PMBinance's clearer refusal is the one shown
    ]
