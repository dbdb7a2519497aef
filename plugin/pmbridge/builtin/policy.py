"""Built-in plugin ``pmbridge.builtin.policy``: the default answer to ``pmbridge_decide_leverage``.

``follow`` adopts the leverage last set outside this process (the app, another tool) when known, else the
exchange's; ``enforce`` and ``alert`` keep what was proposed
(enforce sets the exchange back elsewhere; alert only tells). Every answer is clamped to ``[1, max_leverage]``. It runs
last, so any plugin that answers first decides instead.
"""

from __future__ import annotations

from ..manager import hookimpl
from ..models import LeverageRequest


@hookimpl(trylast=True)
def pmbridge_decide_leverage(request: LeverageRequest) -> float:
    exchange = request.followed if request.followed is not None else request.exchange
    wanted = exchange if request.policy == "follow" and exchange is not None else request.proposed
    return max(1.0, min(float(wanted), float(request.max_leverage)))
