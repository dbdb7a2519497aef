"""Account routes of every family: listen keys, leverage, margin type, position and asset modes, balances,
account details and positions (papi for Portfolio Margin, fapi for USDⓈ-M, dapi for COIN-M), plus the spot stubs
ccxt's default ``load_markets`` asks for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..clock import real_ms
from ..engine import Engine
from ..errors import BinanceError, missing_param
from ..market.catalogue import Unit
from ..venue.account import Account, AccountType
from . import account_wire as aw
from . import params as p
from . import portfolio_wire as pw
from .http import Handler, caller, json_response, signed

Body = Callable[[Account, dict[str, str]], Any]
_FAMILIES: tuple[tuple[str, AccountType], ...] = (("/papi/v1", "pm"), ("/fapi/v1", "usdm"), ("/dapi/v1", "coinm"))


class AccountRoutes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _route(self, allowed: AccountType, build: Body) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            account, params = await signed(self.engine, request, (allowed,))
            return json_response(build(account, params))

        return handle

    def _quotes(self, account: Account) -> Any:
        return self.engine.venue.account_quotes(account)

    def _listen_key(self, account_type: AccountType) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            # API-key only, no signature: that is how Binance secures user-data-stream keys.
            caller(self.engine, request, (account_type,))
            if request.method == "POST":
                return json_response({"listenKey": self.engine.create_listen_key(account_type)})
            if request.method == "PUT":
                self.engine.keepalive_listen_key(account_type)
                kept = self.engine.keys.active(account_type, self.engine.clock.now_ms())
                if account_type == "usdm" and kept is not None:  # fapi names the key it kept alive; papi, dapi: {}
                    return json_response({"listenKey": kept.value})
            else:
                self.engine.delete_listen_key(account_type)
            return json_response({})

        return handle

    # -- configuration -------------------------------------------------------------------------------------------
    def _leverage(self, unit: Unit) -> Body:
        def build(account: Account, params: dict[str, str]) -> Any:
            symbol = p.require(params, "symbol")
            if params.get("leverage") is None:
                raise missing_param("leverage")
            self.engine.emit(self.engine.venue.config.set_leverage(account, symbol, params["leverage"], unit))
            return aw.leverage_answer(account, symbol)

        return build

    def _margin_type(self, account: Account, params: dict[str, str]) -> Any:
        self.engine.emit(
            self.engine.venue.config.set_margin_type(
                account, p.require(params, "symbol"), p.require(params, "marginType").upper()
            )
        )
        return {"code": 200, "msg": "success"}

    def _position_margin(self, account: Account, params: dict[str, str]) -> Any:
        amount = p.decimal(params, "amount")
        kind = p.integer(params, "type")
        if amount is None:
            raise missing_param("amount")
        if kind not in (1, 2):
            raise BinanceError(-1130, "Data sent for parameter 'type' is not valid.")
        side = p.position_side(params)
        self.engine.emit(
            self.engine.venue.config.adjust_isolated_margin(
                account, p.require(params, "symbol"), side, amount, kind == 1
            )
        )
        return {"amount": float(amount), "code": 200, "msg": "Successfully modify position margin.", "type": kind}

    def _position_mode(self, account: Account, params: dict[str, str]) -> Any:
        dual = p.boolean(params, "dualSidePosition")
        if dual is None:
            raise missing_param("dualSidePosition")
        self.engine.emit(self.engine.venue.config.set_position_mode(account, dual))
        return {"code": 200, "msg": "success"}

    def _multi_assets(self, account: Account, params: dict[str, str]) -> Any:
        enabled = p.boolean(params, "multiAssetsMargin")
        if enabled is None:
            raise missing_param("multiAssetsMargin")
        self.engine.emit(self.engine.venue.config.set_multi_assets(account, enabled))
        return {"code": 200, "msg": "success"}

    def _brackets(self, unit: Unit, family: str) -> Body:
        return lambda account, params: aw.brackets(account, unit, params.get("symbol") or None, family)

    # -- routes --------------------------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        r = self._route
        out: list[web.RouteDef] = []
        for prefix, account_type in _FAMILIES:
            handler = self._listen_key(account_type)
            out += [
                web.post(f"{prefix}/listenKey", handler),
                web.put(f"{prefix}/listenKey", handler),
                web.delete(f"{prefix}/listenKey", handler),
                web.get(f"{prefix}/ping", _ping),
            ]
        dual: Body = lambda a, _: {"dualSidePosition": a.dual_side}  # noqa: E731
        q = self._quotes
        out += [  # Portfolio Margin
            web.get("/papi/v1/balance", r("pm", lambda a, prm: pw.pm_balances(a, q(a), prm.get("asset")))),
            web.get("/papi/v1/account", r("pm", lambda a, _: pw.pm_account(a, q(a)))),
            web.get("/papi/v1/um/account", r("pm", lambda a, _: pw.um_account(a, q(a), 1))),
            web.get("/papi/v2/um/account", r("pm", lambda a, _: pw.um_account(a, q(a), 2))),
            web.get("/papi/v1/um/positionRisk", r("pm", lambda a, _: aw.position_risk(a, q(a), "papi"))),
            web.get("/papi/v1/um/symbolConfig", r("pm", lambda a, prm: aw.symbol_config(a, prm.get("symbol"), "papi"))),
            web.get("/papi/v1/um/accountConfig", r("pm", lambda a, _: aw.account_config(a))),
            web.get("/papi/v1/um/positionSide/dual", r("pm", dual)),
            web.post("/papi/v1/um/positionSide/dual", r("pm", self._position_mode)),
            web.get("/papi/v1/um/leverageBracket", r("pm", self._brackets("UM", "papi"))),
            web.get("/papi/v1/cm/leverageBracket", r("pm", self._brackets("CM", "papi"))),
            web.post("/papi/v1/um/leverage", r("pm", self._leverage("UM"))),
            web.post("/papi/v1/cm/leverage", r("pm", self._leverage("CM"))),
            web.get("/papi/v1/cm/account", r("pm", lambda a, _: pw.cm_account(a))),
            web.get("/papi/v1/cm/positionRisk", r("pm", lambda a, _: pw.cm_position_risk(a))),
        ]
        out += [  # USDⓈ-M
            web.get("/fapi/v1/time", _time),
            web.get("/fapi/v1/symbolConfig", r("usdm", lambda a, prm: aw.symbol_config(a, prm.get("symbol"), "fapi"))),
            web.get("/fapi/v1/accountConfig", r("usdm", lambda a, _: aw.account_config(a))),
            web.get("/fapi/v1/multiAssetsMargin", r("usdm", lambda a, _: {"multiAssetsMargin": a.multi_assets})),
            web.post("/fapi/v1/multiAssetsMargin", r("usdm", self._multi_assets)),
            web.get("/fapi/v1/positionSide/dual", r("usdm", dual)),
            web.post("/fapi/v1/positionSide/dual", r("usdm", self._position_mode)),
            web.get("/fapi/v1/leverageBracket", r("usdm", self._brackets("UM", "fapi"))),
            web.post("/fapi/v1/leverage", r("usdm", self._leverage("UM"))),
            web.post("/fapi/v1/marginType", r("usdm", self._margin_type)),
            web.post("/fapi/v1/positionMargin", r("usdm", self._position_margin)),
            web.get("/fapi/v2/account", r("usdm", lambda a, _: aw.futures_account(a, q(a), "v2"))),
            web.get("/fapi/v3/account", r("usdm", lambda a, _: aw.futures_account(a, q(a), "v3"))),
            web.get("/fapi/v2/balance", r("usdm", lambda a, _: aw.futures_balance(a, q(a)))),
            web.get("/fapi/v3/balance", r("usdm", lambda a, _: aw.futures_balance(a, q(a)))),
            web.get("/fapi/v2/positionRisk", r("usdm", lambda a, _: aw.position_risk(a, q(a), "v2"))),
            web.get("/fapi/v3/positionRisk", r("usdm", lambda a, _: aw.position_risk(a, q(a), "v3"))),
        ]
        out += [  # COIN-M: today's reads
            web.get("/dapi/v1/time", _time),
            web.get("/dapi/v1/account", r("coinm", lambda a, _: pw.cm_account(a, standalone=True))),
            web.get("/dapi/v1/positionRisk", r("coinm", lambda a, _: pw.cm_position_risk(a, standalone=True))),
            web.get("/dapi/v1/positionSide/dual", r("coinm", dual)),
            web.get("/dapi/v1/leverageBracket", r("coinm", self._brackets("CM", "dapi"))),
            web.get("/dapi/v2/leverageBracket", r("coinm", self._brackets("CM", "dapi"))),
            web.post("/dapi/v1/leverage", r("coinm", self._leverage("CM"))),
        ]
        # An account without spot: enough for ccxt's default load_markets (spot, margin pairs, currencies).
        any_key = self._spot_stub
        out += [
            web.get("/api/v3/exchangeInfo", _empty_spot_info),
            web.get("/sapi/v1/capital/config/getall", any_key),
            web.get("/sapi/v1/margin/allPairs", any_key),
            web.get("/sapi/v1/margin/isolated/allPairs", any_key),
        ]
        return out

    async def _spot_stub(self, request: web.Request) -> web.Response:
        await signed(self.engine, request, ("pm", "usdm", "coinm"))
        return json_response([])


async def _time(request: web.Request) -> web.Response:
    # Real time, not sim time: clients sync their signing clock from here.
    return json_response({"serverTime": real_ms()})


async def _empty_spot_info(request: web.Request) -> web.Response:
    return json_response(
        {"timezone": "UTC", "serverTime": real_ms(), "rateLimits": [], "exchangeFilters": [], "symbols": []}
    )


async def _ping(request: web.Request) -> web.Response:
    return json_response({})
