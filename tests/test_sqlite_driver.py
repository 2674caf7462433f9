"""SQLite through aiosqlite, one trip to its thread a statement (models.sqlite_driver): what SQLAlchemy reads from
a cursor is all there — rows, row counts, new ids, RETURNING, many rows, errors."""
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from models.db import create_engine

pytestmark = pytest.mark.sqlite_only

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True),
               Column("n", Integer))


@pytest.fixture
async def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def test_rows_counts_ids_and_returning_come_back(engine):
    async with engine.begin() as conn:
        first = await conn.execute(insert(things).values(name="a", n=1))
        assert first.inserted_primary_key == (1,)
        await conn.execute(insert(things), [{"name": "b", "n": 2}, {"name": "c", "n": 3}])
        changed = await conn.execute(update(things).where(things.c.n >= 2).values(n=things.c.n + 10))
        assert changed.rowcount == 2
        returned = await conn.execute(update(things).where(things.c.name == "a").values(n=5).returning(things.c.n))
        assert returned.scalar_one() == 5
        rows = (await conn.execute(select(things.c.name, things.c.n).order_by(things.c.id))).all()
        assert [tuple(r) for r in rows] == [("a", 5), ("b", 12), ("c", 13)]
        assert (await conn.execute(select(things).where(things.c.name == "z"))).first() is None


async def test_a_constraint_violation_is_sqlalchemy_s_integrity_error_and_the_connection_goes_on(engine):
    async with engine.connect() as conn:
        await conn.execute(insert(things).values(name="a", n=1))
        with pytest.raises(IntegrityError):
            await conn.execute(insert(things).values(name="a", n=2))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM things"))).scalar_one() == 0


async def test_each_statement_is_one_trip_to_the_thread(engine, monkeypatch):
    import aiosqlite

    trips = []
    real = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))            # the connection is open and its transaction begun
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        rows = (await conn.execute(select(things.c.name).where(things.c.n > 0))).all()
        assert rows == [] and trips == ["_run"]
