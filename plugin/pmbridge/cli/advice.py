"""What to tell a user whose signed call failed: Binance's authentication codes, each with the fix."""

from __future__ import annotations

from typing import Final

from ..errors import ExchangeError

_AUTH_ADVICE: Final = {
    -2015: (
        "Binance rejected the API key (-2015: invalid key, IP, or permissions). Check, in this order: the key is "
        "copied whole and still exists; this machine's public IP is on the key's IP whitelist; the key has the "
        "{account} permission"
    ),
    -2014: "the API key is malformed (-2014): copy the key again, whole, without spaces",
    -2008: "Binance does not know this API key (-2008): it was deleted or belongs to another account; make a new one",
    -1022: (
        "the signature is invalid (-1022): the API secret does not belong to this key. Copy the secret again "
        "(Binance shows it only once: if lost, make a new key)"
    ),
    -1021: (
        "the request timestamp is outside the recvWindow (-1021): the local clock is off. Sync it "
        "(e.g. `timedatectl set-ntp true` or `chronyc makestep`)"
    ),
}
ACCOUNT_WORDS: Final = {"pm": "Portfolio Margin", "usdm": "USD-M futures", "coinm": "COIN-M futures"}


def exchange_advice(exc: ExchangeError, account: str) -> str:
    """What to do about ``exc``: the fix for the authentication codes Binance uses, else the error itself."""
    advice = _AUTH_ADVICE.get(exc.code) if exc.code is not None else None
    if advice is not None:
        return advice.format(account=ACCOUNT_WORDS.get(account, account))
    return f"{exc}"
