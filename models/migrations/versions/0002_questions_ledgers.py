"""questions, ledgers, weekly results; the outbox says why a send failed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ledger_accounts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('week', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('may_go_negative', sa.Boolean(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('may_go_negative OR balance >= 0', name=op.f('ck_ledger_accounts_not_negative')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_ledger_accounts_community_id_communities')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_ledger_accounts_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_accounts')),
    sa.UniqueConstraint('community_id', 'unit', 'key', name='uq_ledger_accounts_key')
    )
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_accounts_kind', ['community_id', 'unit', 'kind', 'balance'], unique=False)

    op.create_table('questions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('asker_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('asked_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('session_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('closed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('best_answer_id', sa.Integer(), nullable=True),
    sa.Column('best_marked_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('best_marked_by', sa.String(length=128), nullable=True),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('hidden_by', sa.String(length=128), nullable=True),
    sa.Column('edited_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('challenge_code', sa.String(length=12), nullable=True),
    sa.Column('challenge_opened_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['asker_id'], ['members.id'], name=op.f('fk_questions_asker_id_members')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_questions_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questions')),
    sa.UniqueConstraint('challenge_code', name=op.f('uq_questions_challenge_code')),
    sa.UniqueConstraint('community_id', 'number', name='uq_questions_number')
    )
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.create_index('ix_questions_agenda', ['community_id', 'session_at', 'status'], unique=False)
        batch_op.create_index('ix_questions_best', ['community_id', 'best_marked_at'], unique=False)

    op.create_table('score_totals',
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('best_answers', sa.Integer(), nullable=False),
    sa.Column('helped', sa.Integer(), nullable=False),
    sa.Column('digest_answers', sa.Integer(), nullable=False),
    sa.Column('weeks', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_score_totals_community_id_communities')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_score_totals_member_id_members')),
    sa.PrimaryKeyConstraint('community_id', 'member_id', name=op.f('pk_score_totals'))
    )
    op.create_table('answers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('answered_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('edited_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('hidden_by', sa.String(length=128), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['members.id'], name=op.f('fk_answers_author_id_members')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_answers_community_id_communities')),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_answers_question_id_questions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers')),
    sa.UniqueConstraint('community_id', 'number', name='uq_answers_number')
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index('ix_answers_question', ['question_id', 'number'], unique=False)
        batch_op.create_index('ix_answers_week', ['community_id', 'answered_at'], unique=False)

    op.create_table('challengers',
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('accepted_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_challengers_member_id_members')),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_challengers_question_id_questions')),
    sa.PrimaryKeyConstraint('question_id', 'member_id', name=op.f('pk_challengers'))
    )
    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('debit_id', sa.Integer(), nullable=False),
    sa.Column('credit_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('week', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('answer_id', sa.Integer(), nullable=True),
    sa.Column('question_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('reverses_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_ledger_entries_positive')),
    sa.ForeignKeyConstraint(['actor_id'], ['members.id'], name=op.f('fk_ledger_entries_actor_id_members')),
    sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], name=op.f('fk_ledger_entries_answer_id_answers')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_ledger_entries_community_id_communities')),
    sa.ForeignKeyConstraint(['credit_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_entries_credit_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['debit_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_entries_debit_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_ledger_entries_member_id_members')),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_ledger_entries_question_id_questions')),
    sa.ForeignKeyConstraint(['reverses_id'], ['ledger_entries.id'], name=op.f('fk_ledger_entries_reverses_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('community_id', 'unit', 'key', name='uq_ledger_entries_key'),
    sa.UniqueConstraint('community_id', 'unit', 'number', name='uq_ledger_entries_number'),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_ledger_entries_reverses_id'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_kind', ['community_id', 'unit', 'kind', 'created_at'], unique=False)
        batch_op.create_index('ix_ledger_entries_member', ['member_id', 'unit', 'kind', 'created_at'], unique=False)

    op.create_table('weekly_results',
    sa.Column('community_id', sa.String(length=32), nullable=False),
    sa.Column('week', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('best_answers', sa.Integer(), nullable=False),
    sa.Column('helped', sa.Integer(), nullable=False),
    sa.Column('digest_answers', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_weekly_results_community_id_communities')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_weekly_results_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_weekly_results_member_id_members')),
    sa.PrimaryKeyConstraint('community_id', 'week', 'member_id', name=op.f('pk_weekly_results'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error', sa.String(length=300), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('error')

    op.drop_table('weekly_results')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_member')
        batch_op.drop_index('ix_ledger_entries_kind')

    op.drop_table('ledger_entries')
    op.drop_table('challengers')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_week')
        batch_op.drop_index('ix_answers_question')

    op.drop_table('answers')
    op.drop_table('score_totals')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_index('ix_questions_best')
        batch_op.drop_index('ix_questions_agenda')

    op.drop_table('questions')
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_accounts_kind')

    op.drop_table('ledger_accounts')
