"""decode(): every documented frame variant, and the exact error for what is wrong."""

from __future__ import annotations

from decimal import Decimal

import pytest
from attrs.exceptions import FrozenInstanceError

from pmbridge import AccountConfigUpdate, DecodeError, ListenKeyExpired, OtherEvent, UnknownEventError, decode
from pmbridge.events import AccountUpdate, OrderUpdate

from .helpers import FIXTURES, frame

E, T = 1611646737479, 1611646737476


@pytest.mark.parametrize(
    ("name", "unit", "symbol", "leverage", "multi_assets"),
    [
        ("pm_um_leverage", "UM", "BTCUSDT", 25, None),
        # Binance's own example says fs=UM for a COIN-M symbol: the symbol decides.
        ("pm_documented_example", "CM", "BTCUSD_PERP", 25, None),
        ("pm_cm_leverage", "CM", "ETHUSD_250627", 50, None),
        ("pm_multi_assets", "UM", None, None, True),
        ("usdm_leverage", "UM", "BTCUSDT", 25, None),
        ("usdm_multi_assets", "UM", None, None, True),
        ("coinm_leverage", "CM", "BTCUSD_PERP", 25, None),
        ("both_ac_and_ai", "UM", "ETHUSDT", 10, False),
        ("neither_ac_nor_ai", "UM", None, None, None),
        ("numeric_strings", "UM", "BTCUSDT", 25, None),
        ("combined_envelope", "UM", "BTCUSDT", 25, None),
    ],
)
def test_account_config_update_variants(
    name: str, unit: str, symbol: str | None, leverage: int | None, multi_assets: bool | None
) -> None:
    event = decode(frame(name))
    assert event == AccountConfigUpdate(unit, E, T, symbol, leverage, multi_assets)  # type: ignore[arg-type]


def test_str_and_bytes_decode_the_same() -> None:
    raw = frame("pm_um_leverage")
    assert decode(raw) == decode(raw.decode()) == decode(bytearray(raw)) == decode(memoryview(raw))


def test_events_are_frozen() -> None:
    event = decode(frame("pm_um_leverage"))
    with pytest.raises(AttributeError):  # a frozen msgspec Struct; attrs' FrozenInstanceError is one too
        event.leverage = 3  # type: ignore[misc]
    order = decode(frame("order_trade_update"))
    with pytest.raises(FrozenInstanceError):
        order.symbol = "ETHUSDT"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "event_time"), [("listen_key_expired_futures", 1576653824250), ("listen_key_expired_pm", 1736996475556)]
)
def test_listen_key_expired_with_int_or_string_time(name: str, event_time: int) -> None:
    event = decode(frame(name))
    assert event == ListenKeyExpired(event_time)
    # The PM frame carries the key itself; a decoded event must not keep it anywhere.
    assert "WsCMN0a4" not in repr(event)


@pytest.mark.parametrize(
    ("name", "event_type", "event_time"),
    [
        ("risk_level_change", "riskLevelChange", 1587727187525),
        ("risk_level_change_doc_heading", "riskLevelChange", 1587727187525),
        ("liability_change", "liabilityChange", 1573200697110),
        ("conditional_order_trade_update", "CONDITIONAL_ORDER_TRADE_UPDATE", 1669262908218),
        ("algo_update", "ALGO_UPDATE", 1750515742303),
        ("open_order_loss", "openOrderLoss", 1678710578788),
        ("outbound_account_position", "outboundAccountPosition", 1564034571105),
        ("balance_update", "balanceUpdate", 1573200697110),
        ("execution_report", "executionReport", 1499405658658),
    ],
)
def test_other_pm_events_pass_through(name: str, event_type: str, event_time: int) -> None:
    event = decode(frame(name))
    assert isinstance(event, OtherEvent)
    assert (event.event_type, event.event_time) == (event_type, event_time)
    assert event.raw["E"] == event_time
    with pytest.raises(TypeError):
        event.raw["E"] = 0  # type: ignore[index]


def test_pm_account_update_decodes_positions_exactly() -> None:
    event = decode(frame("account_update"))
    assert isinstance(event, AccountUpdate)
    assert (event.event_time, event.transaction_time, event.reason, event.hint) == (
        1564745798939,
        1564745798938,
        "ORDER",
        "UM",
    )
    (row,) = event.positions
    assert (row.symbol, row.side, row.amount, row.entry_price, row.realized_pnl) == (
        "BTCUSDT",
        "BOTH",
        Decimal(0),
        Decimal("0.00000"),
        Decimal(200),
    )
    assert row.margin_type is None and row.isolated_wallet is None  # PM is cross only: the fields are not sent


def test_usdm_account_update_keeps_hedge_rows_margin_type_and_isolated_wallet() -> None:
    event = decode(frame("usdm_account_update_hedge"))
    assert isinstance(event, AccountUpdate) and event.hint is None
    rows = {row.side: row for row in event.positions}
    assert rows["LONG"].amount == Decimal(20) and rows["SHORT"].amount == Decimal(-10)
    assert rows["SHORT"].entry_price == Decimal("6563.86000")
    assert rows["LONG"].isolated_wallet == Decimal("13200.70726908") and rows["LONG"].margin_type == "isolated"
    assert rows["SHORT"].unrealized_pnl == Decimal("-1423.15600")


def test_order_trade_update_decodes_the_fill_and_recognises_a_liquidation() -> None:
    plain = decode(frame("order_trade_update"))
    assert isinstance(plain, OrderUpdate)
    assert (plain.symbol, plain.order_id, plain.execution, plain.status, plain.side) == (
        "BTCUSDT",
        8886774,
        "NEW",
        "NEW",
        "SELL",
    )
    assert not plain.liquidation
    forced = decode(frame("usdm_order_trade_update_liquidation"))
    assert isinstance(forced, OrderUpdate) and forced.liquidation
    assert (forced.execution, forced.last_qty, forced.last_price, forced.realized_pnl) == (
        "CALCULATED",
        Decimal("0.010"),
        Decimal("54216.9"),
        Decimal("-57.83200000"),
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            '{"e":"ACCOUNT_UPDATE","E":1,"T":1,"a":{"m":"ORDER","P":[{"s":"BTCUSDT","pa":"1e5","ep":"1","up":"0"}]}}',
            "a.P[0].pa",
        ),
        ('{"e":"ACCOUNT_UPDATE","E":1,"a":{"m":"ORDER","P":[{"s":"","pa":"1","ep":"1","up":"0"}]}}', "a.P[0].s"),
        ('{"e":"ACCOUNT_UPDATE","E":1,"a":{"m":"ORDER","P":[{"s":"BTCUSDT","pa":"1","ps":"UP"}]}}', "a.P[0].ps"),
        ('{"e":"ACCOUNT_UPDATE","E":1,"a":{"m":"ORDER","P":{"s":"BTCUSDT"}}}', "a.P"),
        ('{"e":"ACCOUNT_UPDATE","E":1,"a":"ORDER"}', "a"),
        ('{"e":"ACCOUNT_UPDATE","a":{"m":"ORDER","P":[]}}', "E"),
        (
            '{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":"BTCUSDT","i":-1,"S":"BUY","o":"MARKET","x":"NEW","X":"NEW"}}',
            "o.i",
        ),
        (
            '{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":"BTCUSDT","i":1,"S":"BUY","o":"MARKET","x":"TRADE","X":"FILLED","l":"NaN"}}',
            "o.l",
        ),
    ],
)
def test_malformed_position_and_order_frames_name_the_field(raw: str, field: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(raw)
    assert caught.value.field == field


def test_liability_change_transaction_id_is_not_taken_for_a_time() -> None:
    event = decode(frame("liability_change"))
    assert isinstance(event, OtherEvent)
    assert event.event_time == 1573200697110
    assert event.raw["T"] == 1352286576452864727


def test_every_fixture_is_covered() -> None:
    names = {path.stem for path in (FIXTURES / "frames").glob("*.json")}
    assert len(names) == 26
    for name in names:
        assert decode(frame(name)) is not None


BASE = '{"e":"ACCOUNT_CONFIG_UPDATE","fs":"UM","E":1611646737479,"T":1611646737476,"ac":{"s":"BTCUSDT","l":%s}}'


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (BASE % "0", "ac.l", "between 1 and 125"),
        (BASE % "-5", "ac.l", "between 1 and 125"),
        (BASE % "126", "ac.l", "between 1 and 125"),
        (BASE % "2.5", "ac.l", "integer"),
        (BASE % "true", "ac.l", "integer"),
        (BASE % '"25x"', "ac.l", "integer"),
        (BASE % "null", "ac.l", "integer"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"BTCUSDT"}}', "ac.l", "required"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"","l":3}}', "ac.s", "symbol"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":5,"l":3}}', "ac.s", "symbol"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":[1]}', "ac", "JSON object"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ai":{"j":"yes"}}', "ai.j", "true or false"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ai":{}}', "ai.j", "true or false"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","ac":{"s":"BTCUSDT","l":3}}', "E", "required"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":-1}', "E", "between"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":99999999999999999999}', "E", "integer"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":"12a"}', "E", "integer"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"T":[1]}', "T", "integer"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"fs":"XM"}', "fs", '"UM" or "CM"'),
        ('{"e":"listenKeyExpired"}', "E", "required"),
        ('{"e":42}', "e", "string"),
        ('{"E":1}', "e", "string"),
        ("[1,2]", "frame", "JSON object"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":NaN}', "frame", "valid JSON"),
        ("", "frame", "valid JSON"),
        ('{"stream":"x","data":"oops"}', "data", "JSON object"),
    ],
)
def test_bad_frames_name_the_field(raw: str, field: str, words: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(raw)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


def test_unknown_event_type_is_a_decode_error_with_the_type() -> None:
    with pytest.raises(UnknownEventError) as caught:
        decode('{"e":"SOMETHING_NEW","E":1}')
    assert caught.value.event_type == "SOMETHING_NEW"
    assert isinstance(caught.value, DecodeError)


def test_offending_value_is_truncated_and_secrets_are_scrubbed() -> None:
    secret_like = "A" * 64
    with pytest.raises(DecodeError) as caught:
        decode('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"BTCUSDT","l":"%s"}}' % secret_like)
    message = str(caught.value)
    assert secret_like not in message
    assert "**REDACTED**" in message
    with pytest.raises(DecodeError) as caught:
        decode('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"BTCUSDT","l":"%s"}}' % ("9 " * 500))
    assert len(str(caught.value)) < 200


def test_non_text_input_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="bytes or str"):
        decode(12345)  # type: ignore[arg-type]


NEST = "[" * 1000 + "]" * 1000  # orjson accepts up to 1023 levels; each template below adds at most 3


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("%s", "frame"),
        ('{"e":%s}', "e"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":%s}', "E"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"fs":%s}', "fs"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":%s}', "ac"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":%s,"l":3}}', "ac.s"),
        ('{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ai":{"j":%s}}', "ai.j"),
        ('{"e":"listenKeyExpired","E":%s}', "E"),
        ('{"stream":"x","data":%s}', "data"),
    ],
)
def test_nesting_as_deep_as_orjson_accepts_is_a_decode_error(template: str, field: str) -> None:
    # Found by bench/fuzz.py: quoting such a value in the error used repr(), which raised RecursionError. Decode
    # from a deep call stack too, as inside the websocket reader, where fewer levels were enough.
    def at_depth(levels: int) -> None:
        if levels:
            at_depth(levels - 1)
            return
        with pytest.raises(DecodeError) as caught:
            decode(template % NEST)
        assert caught.value.field == field
        assert "[[[" in caught.value.value
        assert len(str(caught.value)) < 200

    at_depth(0)
    at_depth(150)
