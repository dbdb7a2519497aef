"""Binance error codes, their messages and HTTP statuses, as the real API answers them."""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[int, str]] = {
    -1000: "An unknown error occurred while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in a parameter.",
    -1102: "Mandatory parameter was not sent, was empty/null, or malformed.",
    -1120: "Invalid interval.",
    -1121: "Invalid symbol.",
    -1125: "This listenKey does not exist.",
    -1130: "Data sent for parameter is not valid.",
    -1131: "recvWindow must be less than 60000",
    -1116: "Invalid orderType.",
    -1117: "Invalid side.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2015: "Invalid API-key, IP, or permissions for action.",
    -2019: "Margin is insufficient.",
    -2022: "ReduceOnly Order is rejected.",
    -4028: "Leverage is not valid",
}

STATUSES: Final[dict[int, int]] = {-2015: 401, -1001: 500}


class BinanceError(Exception):
    """An error the simulator answers with Binance's JSON shape `{"code": .., "msg": ..}`."""

    def __init__(self, code: int, msg: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else MESSAGES.get(code, "Simulated error.")
        self.status = status if status is not None else STATUSES.get(code, 400)
        super().__init__(f"{self.code} {self.msg}")

    def body(self) -> dict[str, int | str]:
        return {"code": self.code, "msg": self.msg}


def invalid_leverage(leverage: object) -> BinanceError:
    return BinanceError(-4028, f"Leverage {leverage} is not valid")


def missing_param(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
