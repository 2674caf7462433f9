"""WeCom's group robot webhook (群机器人, developer document path/91770): send-only posts to one group.

- POST {webhook_url}?key=KEY with a UTF-8 JSON body; the key is the only credential, so it is never logged whole.
- text: content <= 2,048 bytes, mentioned_list = user ids ("@all" for everyone); markdown: content <= 4,096 bytes;
  image: base64 of the raw JPG/PNG file (<= 2 MB) and the md5 (hex) of those raw bytes.
- Every answer is HTTP 200 with {"errcode", "errmsg"}: 0 is success; 45009 ("api freq out of limit", 20 messages
  a minute per robot) is worth retrying later; 93000 means the key is wrong.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from bot.adapters.base import SendError, Unconfirmed

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
IMAGE_MAX_BYTES = 2 * 1024 * 1024
RETRY_LATER = {45009}              # rate limited
BAD_KEY = 93000
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def masked(key: str) -> str:
    """A webhook key as logs and errors may show it."""
    return f"{key[:4]}…" if len(key) > 4 else "…"


async def post_json(session: aiohttp.ClientSession, url: str, payload: dict[str, Any], *, what: str,
                    params: dict[str, str] | None = None, timeout: float = 10.0,
                    require_errcode: bool = True) -> None:
    """POST `payload` as JSON and check WeCom's {"errcode"} answer; raise SendError (transient for network and
    HTTP failures and rate limits). `what` names the destination in errors without revealing credentials."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    try:
        # WeCom's endpoints answer, they do not redirect; following one would take the key elsewhere, and
        # aiohttp's error for a redirect loop quotes the URL with the key.
        async with session.post(url, params=params, data=body, headers={"Content-Type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False) as resp:
            if resp.status != 200:
                raise SendError(f"{what} answered HTTP {resp.status}")
            raw = await resp.read()
    except aiohttp.ClientConnectorError as exc:          # no connection: nothing was sent
        raise SendError(f"{what} unreachable: {str(exc) or type(exc).__name__}") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The request may have reached WeCom: posting it again could show it twice (at most once).
        raise Unconfirmed(f"{what} did not answer ({str(exc) or type(exc).__name__}); not sent again, it may "
                          "have arrived") from None
    try:
        answer = json.loads(raw) if raw.strip() else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SendError(f"{what} answered something that is not a JSON object: {raw[:100]!r}")
    code = answer.get("errcode")
    if code is None and not require_errcode:
        return
    if code == 0:
        return
    if code in RETRY_LATER:
        raise SendError(f"{what} is rate limited: {code} {answer.get('errmsg', '')}")
    hint = " (check groups[].webhook_key in config.yaml)" if code == BAD_KEY else ""
    raise SendError(f"{what} refused the message: {code} {answer.get('errmsg', '')}{hint}", transient=False)


class WebhookClient:
    """Posts to group robots through one shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, timeout: float = 10.0) -> None:
        self.session = session
        self.url = url
        self.timeout = timeout

    async def send_text(self, key: str, content: str, mentioned_list: Sequence[str] = ()) -> None:
        """Plain text; the user ids in mentioned_list are @-mentioned."""
        _check_size("text", content, TEXT_MAX_BYTES)
        text: dict[str, Any] = {"content": content}
        if mentioned_list:
            text["mentioned_list"] = list(mentioned_list)
        await self._post(key, {"msgtype": "text", "text": text})

    async def send_markdown(self, key: str, content: str) -> None:
        """Markdown (the outbox has already split long texts to the adapter's max_bytes)."""
        _check_size("markdown", content, MARKDOWN_MAX_BYTES)
        await self._post(key, {"msgtype": "markdown", "markdown": {"content": content}})

    async def send_image(self, key: str, data: bytes) -> None:
        """A JPG or PNG image of at most 2 MB."""
        if len(data) > IMAGE_MAX_BYTES:
            raise SendError(f"a webhook image may be {IMAGE_MAX_BYTES} bytes, this one is {len(data)}",
                            transient=False)
        if not data.startswith(_IMAGE_MAGIC):
            raise SendError("a webhook image must be a JPG or PNG file", transient=False)
        await self._post(key, {"msgtype": "image", "image": {"base64": base64.b64encode(data).decode(),
                                                             "md5": hashlib.md5(data).hexdigest()}})

    async def _post(self, key: str, payload: dict[str, Any]) -> None:
        await post_json(self.session, self.url, payload, params={"key": key}, timeout=self.timeout,
                        what=f"the group robot webhook (key {masked(key)})")


def _check_size(kind: str, content: str, limit: int) -> None:
    size = len(content.encode())
    if size > limit:
        raise SendError(f"webhook {kind} may be {limit} bytes, this one is {size}", transient=False)
