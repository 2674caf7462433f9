"""WeCom's callback encryption (the WXBizMsgCrypt scheme), as the developer document 加解密方案说明 (path/91144)
and the AI-bot page 回调和回复的加解密方案 (path/101033) describe it:

- AESKey = base64decode(EncodingAESKey + "="), 32 bytes: AES-256-CBC with IV = AESKey[:16].
- Plaintext = 16 random bytes + the message's byte length (4 bytes, big-endian) + message + receive id, padded
  with PKCS#7 to a multiple of 32 bytes (not AES's 16: real traffic carries pad bytes up to 32).
- The receive id is "" for an AI bot (智能机器人); the corp id in the older app callbacks.
- msg_signature = sha1 of the concatenation of the sorted strings token, timestamp, nonce and the encrypted text.

The scheme has no MAC: the signature is what proves a message came from WeCom, so it is checked before decrypting.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_BITS = 256        # WeCom's PKCS#7 block: 32 bytes


class CryptoError(Exception):
    """An encrypted text that does not decrypt to a well-formed message for this bot."""


class SignatureError(CryptoError):
    """The msg_signature does not match: the request did not come from WeCom (or the token is wrong)."""


class WecomCrypto:
    """Signs, verifies, encrypts and decrypts with one bot's Token and EncodingAESKey."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("the EncodingAESKey must be the 43 characters the admin console shows")
        self.token = token
        self._key = key
        self._iv = key[:16]
        self.receive_id = receive_id.encode()

    def signature(self, timestamp: str | int, nonce: str, encrypted: str) -> str:
        """WeCom's msg_signature: sha1 (hex) of the sorted, concatenated token, timestamp, nonce and text."""
        parts = sorted([self.token, str(timestamp), nonce, encrypted])
        return hashlib.sha1("".join(parts).encode()).hexdigest()

    def verify(self, signature: str, timestamp: str | int, nonce: str, encrypted: str) -> None:
        """Raise SignatureError unless `signature` is this bot's signature of the other three."""
        expected = self.signature(timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise SignatureError("msg_signature does not match")

    def decrypt(self, encrypted: str) -> str:
        """The message inside a base64 `encrypt` value (or an echostr); CryptoError when it is not one of ours."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("not base64") from None
        if not data or len(data) % 16:
            raise CryptoError(f"{len(data)} bytes is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise CryptoError("bad padding (wrong EncodingAESKey?)") from None
        if len(plain) < 20:
            raise CryptoError("too short to hold a message")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError("the length field runs past the end")
        message, receive_id = plain[20:20 + length], plain[20 + length:]
        if not hmac.compare_digest(receive_id, self.receive_id):
            raise CryptoError(f"addressed to receive id {receive_id[:64]!r}, not {self.receive_id!r}")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise CryptoError("the message is not UTF-8") from None

    def encrypt(self, text: str, random16: bytes | None = None) -> str:
        """`text` encrypted for WeCom, base64; random16 fixes the random prefix (tests only)."""
        prefix = secrets.token_bytes(16) if random16 is None else random16
        if len(prefix) != 16:
            raise ValueError("random16 must be 16 bytes")
        message = text.encode()
        padder = padding.PKCS7(BLOCK_BITS).padder()
        plain = padder.update(prefix + struct.pack(">I", len(message)) + message + self.receive_id)
        plain += padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def reply_envelope(self, text: str, nonce: str, timestamp: int) -> dict[str, str | int]:
        """The body of an encrypted passive reply. `nonce` must be the callback's own nonce; the timestamp is in
        seconds (a JSON number, as in the AI-bot document's example); note the key "msgsignature"."""
        encrypted = self.encrypt(text)
        return {"encrypt": encrypted, "msgsignature": self.signature(timestamp, nonce, encrypted),
                "timestamp": timestamp, "nonce": nonce}
