"""A throwaway PostgreSQL database for tests; skipped without a server, except under CI=true."""
from __future__ import annotations

import os
import uuid

import pytest

ADMIN_URL = os.environ.get("QUNBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def create_database() -> tuple[str, str]:
    """(asyncpg SQLAlchemy URL of a new empty database, its name)."""
    try:
        import asyncpg
    except ImportError:
        _unavailable("asyncpg is not installed")
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    name = f"qunbot_test_{uuid.uuid4().hex[:10]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required when CI=true: {reason}")
    pytest.skip(reason)
