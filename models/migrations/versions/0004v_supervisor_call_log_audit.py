"""supervisor call log indexes and the audit log

Revision ID: 0004v
Revises: 0003s
Create Date: 2026-12-04 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004v'
down_revision = '0003s'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_user_at', ['user_id', 'at'], unique=False)
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_number_started', ['caller_number', 'started_at'], unique=False)
        batch_op.create_index('ix_calls_agent_started', ['agent_id', 'started_at'], unique=False)
        batch_op.create_index('ix_calls_queue_started', ['queue', 'started_at'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_category_created', ['category_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_category_created')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_queue_started')
        batch_op.drop_index('ix_calls_agent_started')
        batch_op.drop_index('ix_calls_number_started')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_user_at')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
    op.drop_table('audit_log')
