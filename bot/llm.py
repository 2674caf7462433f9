"""The LLM endpoint behind digest summaries: any OpenAI-compatible chat-completions API, through the official
`openai` client (an optional dependency: pip install -e '.[llm]'), imported when the first request is made.

One request, one answer checked against what was asked for: JSON with one string field, not empty, not too long,
not too many sentences. Whatever goes wrong is an LlmError the caller turns into the extractive digest."""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass

from bot.cleaning import clean
from bot.config import LlmConfig

log = logging.getLogger("qunbot.llm")
_FENCE = re.compile(r"\A```(?:json)?\s*(.*?)\s*```\Z", re.S)
_SENTENCE_END = re.compile(r"[。！？!?]+|\.(?=\s|$)")
NO_KEY = "not-needed"          # what a local server without keys is sent (the client insists on one)


class LlmError(Exception):
    """The endpoint failed (unreachable, an error status, too slow) or answered junk; `reason` says which."""

    def __init__(self, reason: str, tokens: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tokens = tokens        # what a junk answer cost all the same


@dataclass(frozen=True)
class Answer:
    text: str
    tokens: int                 # total tokens of the request and its answer, as the endpoint reported them


def api_key(config: LlmConfig) -> str | None:
    """The API key from the environment; NO_KEY for a server configured without one; None when it is missing."""
    if not config.api_key_env:
        return NO_KEY
    return os.environ.get(config.api_key_env) or None


def sentences(text: str) -> int:
    ends = len(_SENTENCE_END.findall(text.strip()))
    return ends + (0 if _SENTENCE_END.search(text.strip()[-1:]) else 1) if text.strip() else 0


def parse(raw: str, field: str, *, limit: int, max_sentences: int | None = None) -> str:
    """The `field` of a JSON answer, cleaned to one line; LlmError("junk") when it is not what was asked for."""
    raw = raw.strip()
    if m := _FENCE.match(raw):
        raw = m.group(1)
    try:
        value = json.loads(raw)
    except ValueError:
        raise LlmError("junk: not JSON") from None
    text = value.get(field) if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise LlmError(f"junk: no {field}")
    text = " ".join(clean(text).split())
    if not text:
        raise LlmError("junk: empty")
    if len(text) > limit:
        raise LlmError("junk: too long")
    if max_sentences is not None and sentences(text) > max_sentences:
        raise LlmError("junk: too many sentences")
    return text


class ChatModel:
    """A small interface over the endpoint: one system and one user message in, the answer's text and tokens out."""

    def __init__(self, config: LlmConfig) -> None:
        self.config = config

    @property
    def ready(self) -> bool:
        """Configured with its key (or with none needed)."""
        return api_key(self.config) is not None

    async def complete(self, system: str, user: str) -> Answer:
        import openai  # optional: only a bot with `llm` configured needs it

        key = api_key(self.config)
        if key is None:
            raise LlmError("no API key")
        client = openai.AsyncOpenAI(base_url=self.config.base_url, api_key=key,
                                    timeout=self.config.timeout_seconds, max_retries=0)
        try:
            response = await client.chat.completions.create(
                model=self.config.model, max_tokens=self.config.max_tokens, temperature=0.2,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])
        except openai.APITimeoutError:
            raise LlmError("timeout") from None
        except openai.APIStatusError as exc:
            raise LlmError(f"status {exc.status_code}") from None
        except openai.OpenAIError as exc:          # unreachable, or an answer the client could not read
            raise LlmError(type(exc).__name__) from None
        finally:
            await client.close()
        usage = response.usage
        # A server that reports no usage is charged as if each character were a token (CJK text is about that).
        tokens = usage.total_tokens if usage is not None else len(system) + len(user) + self.config.max_tokens
        choices = response.choices or []
        text = (choices[0].message.content if choices else None) or ""
        if not text.strip():
            raise LlmError("junk: empty", tokens)
        return Answer(text, tokens)
