"""Built-in plugin ``pmbridge.builtin.policy``: the default answer to ``pmbridge_decide_leverage``.

``follow`` adopts the exchange's leverage when the book knows it; ``enforce`` and ``alert`` keep what was proposed
(enforce sets the exchange back elsewhere; alert only tells). Every answer is clamped to ``[1, max_leverage]``. It runs
last, so any plugin that answers first decides instead.
"""

from __future__ import annotations

from ..manager import hookimpl
from ..models import LeverageRequest


@hookimpl(trylast=True)
def pmbridge_decide_leverage(request: LeverageRequest) -> float:
    wanted = request.exchange if request.policy == "follow" and request.exchange is not None else request.proposed
    return max(1.0, min(float(wanted), float(request.max_leverage)))
