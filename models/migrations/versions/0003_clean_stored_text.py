"""members' text stored before it was cleaned on arrival is cleaned the same way (bot.cleaning)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.cleaning import clean

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# (table, key column, text column, multi-line, what a value with nothing visible becomes)
TEXTS = [
    ("questions", "id", "title", False, "?"),
    ("questions", "id", "body", True, None),
    ("answers", "id", "body", True, "?"),
    ("ledger_entries", "id", "reason", False, None),
    *(("profiles", "member_id", field, False, None)
      for field in ("real_name", "company", "city", "title", "industry", "path", "skills", "needs", "interests")),
]


def upgrade() -> None:
    conn = op.get_bind()
    for table, key, column, multiline, empty in TEXTS:
        t = sa.table(table, sa.column(key), sa.column(column))
        for row_key, value in conn.execute(sa.select(t.c[key], t.c[column]).where(t.c[column].is_not(None))).all():
            cleaned = clean(value, multiline=multiline).strip() or empty
            if cleaned != value:
                conn.execute(t.update().where(t.c[key] == row_key).values({column: cleaned}))
    members = sa.table("members", sa.column("id"), sa.column("user_id"), sa.column("display_name"))
    for member_id, user_id, name in conn.execute(sa.select(members.c.id, members.c.user_id,
                                                           members.c.display_name)).all():
        cleaned = clean(name, multiline=False).strip()[:100] or user_id
        if cleaned != name:
            conn.execute(members.update().where(members.c.id == member_id).values(display_name=cleaned))


def downgrade() -> None:
    """Nothing to undo: the removed characters were never meant to be there."""
