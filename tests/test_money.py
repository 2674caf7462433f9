"""Amounts as treasurers type them ("¥1,000.50", "200元") parsed to integer fen, and shown back."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.money import MAX_FEN, AmountError, format_fen, parse_amount

# ---- accepted ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, fen", [
    ("200", 200_00),
    ("¥1,000.50", 1_000_50),
    ("200元", 200_00),
    ("1,000", 1_000_00),
    ("￥3", 3_00),
    ("0.5", 50),
    ("12.05", 12_05),
    (" 88 ", 88_00),
    ("1，000", 1_000_00),                 # a full-width comma, as Chinese keyboards type it
    ("100,000,000", MAX_FEN),             # the largest amount still taken
])
def test_accepted_amounts(text, fen):
    assert parse_amount(text) == fen


# ---- refused, each with its reason ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("abc", "format"),
    ("2x0", "format"),
    ("二百", "format"),
    ("", "format"),
    ("1,00", "format"),                   # a comma that does not group thousands
    ("10,0000", "format"),
    ("1.", "format"),
    ("1.234", "decimals"),
    ("0.001", "decimals"),
    ("-5", "negative"),
    ("−5", "negative"),                   # the minus sign, not a hyphen
    ("-0", "negative"),
    ("0", "zero"),
    ("0.00", "zero"),
    ("¥0", "zero"),
    ("100,000,000.01", "too_large"),
    ("99999999999999999999", "too_large"),
])
def test_refused_amounts_say_why(text, reason):
    with pytest.raises(AmountError) as refused:
        parse_amount(text)
    assert refused.value.reason == reason


# ---- shown back ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fen, shown", [
    (1, "¥0.01"),
    (200_00, "¥200.00"),
    (1_000_50, "¥1,000.50"),
    (5_200_00, "¥5,200.00"),
    (1_234_567_89, "¥1,234,567.89"),
    (0, "¥0.00"),
    (-30_00, "-¥30.00"),
])
def test_format_fen(fen, shown):
    assert format_fen(fen) == shown


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_what_is_shown_parses_back_to_the_same_fen(fen):
    assert parse_amount(format_fen(fen)) == fen


@given(yuan=st.integers(min_value=1, max_value=MAX_FEN // 100 - 1), cents=st.integers(min_value=0, max_value=99),
       suffix=st.sampled_from(["", "元", "块"]), mark=st.sampled_from(["", "¥", "￥"]))
def test_plain_and_marked_amounts_agree(yuan, cents, suffix, mark):
    assert parse_amount(f"{mark}{yuan}.{cents:02d}{suffix}") == yuan * 100 + cents


@given(st.text(max_size=20))
def test_any_text_is_an_amount_or_refused_with_a_reason(text):
    try:
        fen = parse_amount(text)
    except AmountError as refused:
        assert refused.reason in ("format", "negative", "zero", "decimals", "too_large")
    else:
        assert 0 < fen <= MAX_FEN
