"""The Alembic migrations create exactly the models' schema, on SQLite and on a real PostgreSQL."""
import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from models import Base
from models.db import create_engine, current_revision, downgrade, upgrade
from tests import pg
from tests.conftest import Chat, head_revision, make_config, selected_database


async def _diff(engine):
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))


@pytest.mark.sqlite_only
async def test_sqlite_migration_matches_models(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await upgrade(engine)
    assert await current_revision(engine) == head_revision() == "0014"
    assert await _diff(engine) == []
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await engine.dispose()


def test_db_upgrade_command(tmp_path, capsys, request):
    """On a new, empty database of the selected kind."""
    from bot.cli import main

    if selected_database(request.config) == "postgresql":
        url, name = asyncio.run(pg.create_database())
    else:
        url, name = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", None
    try:
        assert main(["db", "upgrade", "--config", "config.yaml", "--db", url]) == 0
    finally:
        if name is not None:
            asyncio.run(pg.drop_database(name))
    assert capsys.readouterr().out.strip() == head_revision()


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


async def test_text_stored_before_cleaning_is_cleaned_by_the_upgrade(db_url):
    chat = Chat(make_config(), db_url)
    await chat.start()
    await chat.say("/提问 怎么做增长\n背景", "u1")
    await chat.say("/回答 Q1 先找种子用户", "u2")
    await chat.say("/基金 入账 200 捐赠 年会", "u_owner")
    await chat.signup("u2", "城市=北京")
    await downgrade(chat.app.engine, "0004")
    # What a bot of before could have stored: format characters, a forged line, a name of nothing visible.
    async with chat.app.sessions.begin() as db:
        await db.execute(text("UPDATE questions SET title = :t, body = :b"),
                         {"t": "怎么\u202e做增长", "b": "背景\u200b\n第二行"})
        await db.execute(text("UPDATE answers SET body = :b"), {"b": "先找\u2067种子\u2069用户"})
        await db.execute(text("UPDATE ledger_entries SET reason = :r"), {"r": "年会\n#9 伪造的一行"})
        await db.execute(text("UPDATE profiles SET city = :c"), {"c": "北\u200d京"})
        await db.execute(text("UPDATE members SET display_name = :n WHERE user_id = 'u3'"), {"n": "\u200b\u3164"})
        await db.execute(text("DROP INDEX ix_processed_events_handled_at"))      # added by 0004
        await db.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    await upgrade(chat.app.engine)
    async with chat.app.sessions() as db:
        assert (await db.execute(text("SELECT title, body FROM questions"))).one() == ("怎么做增长", "背景\n第二行")
        assert (await db.execute(text("SELECT body FROM answers"))).scalar() == "先找种子用户"
        assert (await db.execute(text("SELECT reason FROM ledger_entries"))).scalar() == "年会 #9 伪造的一行"
        assert (await db.execute(text("SELECT city FROM profiles"))).scalar() == "北京"
        assert (await db.execute(text("SELECT display_name FROM members WHERE user_id = 'u3'"))).scalar() == "u3"
    await chat.close()


async def test_the_accounts_revision_goes_down_and_up_again(db_url):
    """0006 (the bot account of groups, outgoing messages and who heard a user last) on the selected database."""
    engine = create_engine(db_url)
    try:
        await downgrade(engine, "0005")
        assert await current_revision(engine) == "0005"
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa_inspect(c).get_table_names())
            columns = await conn.run_sync(lambda c: [col["name"] for col in sa_inspect(c).get_columns("outbox")])
        assert "heard_by" not in tables and "account" not in columns
        await upgrade(engine)
        assert await _diff(engine) == []
    finally:
        await engine.dispose()


def test_the_head_read_from_the_migration_files_is_alembic_s():
    from models.db import head_revision as read_head

    assert read_head() == head_revision()


def test_a_database_already_at_the_head_starts_without_loading_alembic(tmp_path):
    """Alembic costs a running bot ~11 MB of memory; it is loaded only when there is something to migrate."""
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'at-head.db'}"
    script = ("import asyncio, sys\n"
              "from models.db import create_engine, upgrade\n"
              "async def main():\n"
              "    engine = create_engine(sys.argv[1])\n"
              "    await upgrade(engine)\n"
              "    await engine.dispose()\n"
              "asyncio.run(main())\n"
              "print('alembic' in sys.modules)\n")
    root = Path(__file__).resolve().parent.parent
    runs = [subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, check=True,
                           cwd=root).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]        # the first run creates the schema; the second finds it at the head
