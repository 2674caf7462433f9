"""The Alembic migrations create exactly the models' schema, on SQLite and on a real PostgreSQL."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from models import Base
from models.db import create_engine, current_revision, upgrade
from tests import pg
from tests.conftest import Chat, make_config


async def _diff(engine):
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))


async def test_sqlite_migration_matches_models(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await upgrade(engine)
    assert await current_revision(engine) == "0002"
    assert await _diff(engine) == []
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await engine.dispose()


def test_db_upgrade_command(tmp_path, capsys):
    from bot.cli import main

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", "--config", "config.yaml", "--db", url]) == 0
    assert capsys.readouterr().out.strip() == "0002"


async def test_postgresql_migration_and_a_conversation():
    url, name = await pg.create_database()
    try:
        engine = create_engine(url)
        await upgrade(engine)
        assert await _diff(engine) == []
        await engine.dispose()
        chat = Chat(make_config(), url)
        await chat.start()
        await chat.signup("u1", "城市=北京; 职位=产品经理; 擅长=增长,文案")
        await chat.say("/任命 @李四 版主", "u_owner", mentions=["u2"])
        replies = await chat.say("/找人 增长", "u2")
        assert "1. 张三（产品经理 · 北京）" in replies[0]
        assert "版主：李四" in (await chat.say("/角色", "u3"))[0]
        await chat.close()
    finally:
        await pg.drop_database(name)
