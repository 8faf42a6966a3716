"""Card digits in memory, and the payment IVR's dialogue."""

from __future__ import annotations

import copy
import datetime as dt
import pickle

import pytest

from controller.payments import ivr as i
from controller.payments.card import CardData, SensitiveDigits

SETTINGS = i.IvrSettings(
    "num", "exp", "cvv", "invalid", first_digit_timeout=8, digit_timeout=4, max_attempts=3
)
TODAY = dt.date(2026, 12, 2)
CARD = "4556737586899855"


def digits(text: str) -> SensitiveDigits:
    holder = SensitiveDigits()
    for char in text:
        holder.append(char)
    return holder


def test_digits_never_print_pickle_or_copy() -> None:
    holder = digits(CARD)
    for shown in (repr(holder), str(holder), f"{holder}", f"{holder!r}", repr(CardData())):
        assert CARD not in shown and CARD[:6] not in shown
    with pytest.raises(TypeError):
        pickle.dumps(holder)
    with pytest.raises(TypeError):
        copy.copy(holder)
    with pytest.raises(TypeError):
        pickle.dumps(CardData())
    with pytest.raises(ValueError):
        holder.append("12")


def test_wipe_zeroes_the_buffer() -> None:
    holder = digits(CARD)
    buffer = holder._buffer
    holder.wipe()
    assert len(holder) == 0 and bytes(buffer) == b""


@pytest.mark.parametrize("char", ["\u00b2", "\u0663", "\uff11", "a", ""])
def test_card_digits_accept_only_ascii_0_to_9(char: str) -> None:
    """Low, card digits (M1): ``str.isdigit`` accepts '²' or Arabic-Indic '٣'; only
    ASCII 0-9 may enter the buffer, with a clear error, and the IVR ignores the rest
    instead of crashing."""
    holder = SensitiveDigits()
    with pytest.raises(ValueError, match="ASCII digits 0-9"):
        holder.append(char)
    assert len(holder) == 0
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    ivr.prompt_finished()
    assert ivr.digit(char) == []
    assert len(ivr.card.number) == 0


def test_card_digits_have_no_copying_accessor() -> None:
    """Low, card digits (M1): no method hands the digits out as a bytes copy that
    nobody wipes; validation reads one digit at a time."""
    holder = digits("1227")
    assert not hasattr(holder, "digits")
    assert [holder.digit_at(k) for k in range(4)] == [1, 2, 2, 7]
    target = bytearray(6)
    assert holder.copy_into(target, 1) == 5
    assert target == bytearray(b"\x001227\x00")


def test_luhn() -> None:
    assert digits(CARD).luhn_valid()
    assert digits("4970100000000055").luhn_valid()
    assert digits("4111111111111111").luhn_valid()
    assert not digits("4556737586899856").luhn_valid()
    assert not SensitiveDigits().luhn_valid()


def run(ivr: i.PaymentIvr, keys: str) -> list[i.Action]:
    actions: list[i.Action] = []
    for key in keys:
        actions += ivr.digit(key)
    return actions


def test_happy_path_collects_three_fields() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    assert ivr.start() == [i.Prompt(("num",)), i.Wait(60.0)]
    assert ivr.prompt_finished() == [i.Wait(8)]
    actions = run(ivr, CARD + "#")
    assert actions[-2:] == [i.Prompt(("exp",)), i.Wait(60.0)]
    # Expiry completes itself after four digits; barge-in stops the prompt.
    actions = run(ivr, "1227")
    assert actions[0] == i.StopPrompt()
    assert actions[-2:] == [i.Prompt(("cvv",)), i.Wait(60.0)]
    actions = run(ivr, "123#")
    collected = actions[-1]
    assert isinstance(collected, i.Collected)
    assert collected.card.number.matches(CARD.encode())
    assert collected.card.expiry.matches(b"1227") and collected.card.cvv.matches(b"123")


def test_bad_luhn_retries_then_gives_up() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    ivr.prompt_finished()
    assert run(ivr, "4556737586899856#")[-2] == i.Prompt(("invalid", "num"))
    run(ivr, "1234#")
    actions = run(ivr, "99#")
    assert actions[-1] == i.GaveUp("invalid_entry")
    assert len(ivr.card.number) == 0 and ivr.done
    assert run(ivr, "1") == []


@pytest.mark.parametrize("expiry", ["1326", "0026", "1126"])
def test_bad_or_past_expiry(expiry: str) -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    run(ivr, CARD + "#")
    assert run(ivr, expiry)[-2] == i.Prompt(("invalid", "exp"))


def test_current_month_is_still_valid() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    run(ivr, CARD + "#")
    assert run(ivr, "1226")[-2] == i.Prompt(("cvv",))


def test_cvv_length() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    run(ivr, CARD + "#1227")
    assert run(ivr, "12#")[-2] == i.Prompt(("invalid", "cvv"))
    assert isinstance(run(ivr, "1234#")[-1], i.Collected)


def test_star_starts_the_field_again() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    run(ivr, "4970*")
    actions = run(ivr, CARD + "#")
    assert actions[-2] == i.Prompt(("exp",))


def test_timeouts() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    ivr.prompt_finished()
    # Nothing typed: ask again, then give up.
    assert ivr.timed_out()[0] == i.Prompt(("invalid", "num"))
    ivr.timed_out()
    assert ivr.timed_out() == [i.GaveUp("no_entry")]
    # Digits typed then silence: the entry is taken as complete.
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    assert run(ivr, CARD)[-1] == i.Wait(4)
    assert ivr.timed_out()[0] == i.Prompt(("exp",))


def test_too_many_digits() -> None:
    ivr = i.PaymentIvr(SETTINGS, TODAY)
    ivr.start()
    assert run(ivr, "1" * 20)[-2] == i.Prompt(("invalid", "num"))
