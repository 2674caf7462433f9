"""Secrets never reach a log line: every log record is masked for the configured secrets as it is made.

The adapters keep their credentials out of what they log; this catches whatever a library prints. It works on the
records rather than on handlers because libraries bring handlers of their own, attached when they are imported,
which can be after logging was set up: python-wechaty gives each of its loggers its own stderr handler and turns
propagation off.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.config import Config
from bot.llm import NO_KEY, api_key

MASK = "***"
_FORMATTER = logging.Formatter()


def config_secrets(config: Config, database_url: str | None = None) -> set[str]:
    """Every secret the configuration (or the environment behind it) gives the bot; `database_url` is one given
    on the command line."""
    adapter = config.adapter
    secrets = {adapter.wechaty.token, adapter.wecom.secret, adapter.wecom.callback.token,
               adapter.wecom.callback.encoding_aes_key}
    secrets |= {group.webhook_key for community in config.communities for group in community.groups}
    if config.llm is not None:
        secrets.add(api_key(config.llm) if api_key(config.llm) != NO_KEY else None)
    for url in (config.database.url, database_url):
        try:
            password = urlsplit(url).password if url else None
        except ValueError:                                    # not a URL the database layer will accept either
            password = None
        if password:
            secrets |= {password, unquote(password)}          # as written in the URL, and as a driver sees it
    return {s for s in secrets if s}


class _MaskingFactory:
    """A LogRecord factory that masks secrets in the message, the exception text and the stack of each record."""

    def __init__(self, make: Callable[..., logging.LogRecord]) -> None:
        self.make = make
        self.secrets: tuple[str, ...] = ()

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        if not self.secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:                          # arguments that do not fit: keep what there is, masked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info:
            record.exc_text = self.mask(_FORMATTER.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return record


def mask_secrets_in_logs(secrets: Iterable[str]) -> None:
    """From now on, replace each of `secrets` by a mask in every log record, whichever logger or handler prints it."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _MaskingFactory):
        factory = _MaskingFactory(factory)
        logging.setLogRecordFactory(factory)
    # Longest first, so a secret containing another is masked whole.
    factory.secrets = tuple(sorted(set(factory.secrets) | {s for s in secrets if s}, key=len, reverse=True))
