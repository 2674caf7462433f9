"""WeCom's WXBizMsgCrypt scheme: the official samples' known answers, and what a forged or damaged text does."""
from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.wecom_crypto import CryptoError, SignatureError, WecomCrypto

# The parameters of WeCom's official WXBizMsgCrypt samples: sbzhu/weworkapi_php callback/Sample.php, the same values
# in workweixin/weworkapi_cplusplus Sample.cpp and workweixin/weworkapi_golang json_callback/sample.go.
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"

# URL verification (GET): sbzhu/weworkapi_php callback/Sample.php (also workweixin/weworkapi_cplusplus Sample.cpp).
VERIFY_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
VERIFY_TIMESTAMP = "1409659589"
VERIFY_NONCE = "263014780"
VERIFY_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="

# Message decryption (POST): sbzhu/weworkapi_php callback/Sample.php, with the expected XML in its comment.
MSG_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
MSG_TIMESTAMP = "1409659813"
MSG_NONCE = "1372623149"
MSG_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYv"
    "uJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+Lt"
    "wGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2"
    "t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDA"
    "Ve0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
MSG_XML = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)


@pytest.fixture
def official() -> WecomCrypto:
    return WecomCrypto(TOKEN, AES_KEY, receive_id=CORP_ID)


def test_url_verification_vector(official):
    assert official.signature(VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_SIGNATURE
    official.verify(VERIFY_SIGNATURE, VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR)
    assert official.decrypt(VERIFY_ECHOSTR) == "1616140317555161061"


def test_message_vector(official):
    assert official.signature(MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT) == MSG_SIGNATURE
    official.verify(MSG_SIGNATURE, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT)
    # Its padding is 30 bytes long: only a 32-byte PKCS#7 block accepts it.
    assert official.decrypt(MSG_ENCRYPT) == MSG_XML


def test_encrypt_reproduces_the_official_echostr(official):
    # The echostr's random prefix, read back from its decryption: encryption is the exact inverse.
    assert official.encrypt("1616140317555161061", random16=b"c41b64491c2468d0") == VERIFY_ECHOSTR


def test_a_forged_signature_is_refused(official):
    forged = "0" * 40
    with pytest.raises(SignatureError):
        official.verify(forged, MSG_TIMESTAMP, MSG_NONCE, MSG_ENCRYPT)
    with pytest.raises(SignatureError):      # the right signature for another timestamp
        official.verify(MSG_SIGNATURE, "1409659814", MSG_NONCE, MSG_ENCRYPT)


def test_a_message_for_another_receive_id_is_refused():
    for_corp = WecomCrypto(TOKEN, AES_KEY, receive_id=CORP_ID).encrypt("hi")
    assert WecomCrypto(TOKEN, AES_KEY, receive_id=CORP_ID).decrypt(for_corp) == "hi"
    for receive_id in ("", "ww0000000000000000"):
        with pytest.raises(CryptoError, match="receive id"):
            WecomCrypto(TOKEN, AES_KEY, receive_id=receive_id).decrypt(for_corp)
    with pytest.raises(CryptoError, match="receive id"):       # the official message, to an AI bot
        WecomCrypto(TOKEN, AES_KEY).decrypt(MSG_ENCRYPT)


def test_a_wrong_key_is_a_crypto_error():
    wrong = WecomCrypto(TOKEN, "a" * 43, receive_id=CORP_ID)
    with pytest.raises(CryptoError):
        wrong.decrypt(MSG_ENCRYPT)


@pytest.mark.parametrize("damage, reason", [
    (lambda raw: raw[:-1], "AES blocks"),                        # not a whole AES block
    (lambda raw: raw[:32], "padding"),                           # cut short: the last byte is not padding
    (lambda raw: bytes([raw[0] ^ 0x80]) + raw[1:], "length"),    # CBC: flips the length field's top bit
    (lambda raw: raw[:-16] + bytes(16), "padding"),              # a zeroed last block
])
def test_tampered_ciphertext_is_a_crypto_error(official, damage, reason):
    raw = base64.b64decode(MSG_ENCRYPT)
    with pytest.raises(CryptoError, match=reason):
        official.decrypt(base64.b64encode(damage(raw)).decode())


@pytest.mark.parametrize("text", ["", "not base64!", "YQ=", "AAAA"])
def test_garbage_is_a_crypto_error(official, text):
    with pytest.raises(CryptoError):
        official.decrypt(text)


@given(st.text(max_size=300), st.binary(min_size=16, max_size=16))
def test_round_trip_for_an_ai_bot(text, random16):
    bot = WecomCrypto(TOKEN, AES_KEY)               # an AI bot's receive id is ""
    encrypted = bot.encrypt(text, random16=random16)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert bot.decrypt(encrypted) == text


@given(st.binary(max_size=400).map(lambda b: b + bytes(-len(b) % 16)))
def test_random_blocks_decrypt_to_a_crypto_error_or_text(raw):
    # The scheme has no MAC (the signature is the integrity check): random input may decrypt by chance, but it
    # never raises anything but CryptoError.
    try:
        result = WecomCrypto(TOKEN, AES_KEY).decrypt(base64.b64encode(raw).decode())
    except CryptoError:
        return
    assert isinstance(result, str)


@given(st.integers(min_value=0, max_value=351), st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_is_a_crypto_error_or_text(position, flip):
    raw = bytearray(base64.b64decode(MSG_ENCRYPT))
    raw[position] ^= flip
    try:
        result = WecomCrypto(TOKEN, AES_KEY, CORP_ID).decrypt(base64.b64encode(raw).decode())
    except CryptoError:
        return
    assert result != MSG_XML


def test_reply_envelope_is_signed_with_the_callbacks_nonce():
    bot = WecomCrypto(TOKEN, AES_KEY)
    envelope = bot.reply_envelope('{"msgtype":"stream"}', nonce="n0nce", timestamp=1641002400)
    assert set(envelope) == {"encrypt", "msgsignature", "timestamp", "nonce"}
    assert envelope["nonce"] == "n0nce" and envelope["timestamp"] == 1641002400
    bot.verify(envelope["msgsignature"], 1641002400, "n0nce", envelope["encrypt"])
    assert bot.decrypt(envelope["encrypt"]) == '{"msgtype":"stream"}'


def test_a_malformed_key_is_refused():
    with pytest.raises(ValueError):
        WecomCrypto(TOKEN, AES_KEY[:-1])
