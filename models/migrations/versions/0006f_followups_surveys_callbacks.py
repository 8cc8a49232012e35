"""follow-up surveys, callbacks, daily statistics

Revision ID: 0006f
Revises: 0005c
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006f'
down_revision = '0005c'
branch_labels = None
depends_on = None

OUTBOUND_STATES = ('placing', 'ringing', 'answered', 'surveyed', 'agent', 'incomplete', 'connected',
                   'no_answer', 'busy', 'failed', 'lost')


def upgrade() -> None:
    op.create_table('outbound_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Enum(*OUTBOUND_STATES, name='outboundstate', native_enum=False, length=16), nullable=False),
    sa.Column('queue', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('action_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('deadline_at', sa.DateTime(), nullable=False),
    sa.Column('originated_at', sa.DateTime(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('connected_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['scheduled_tasks.id'], name=op.f('fk_outbound_calls_task_id_scheduled_tasks')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_outbound_calls_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_calls')),
    sa.UniqueConstraint('task_id', 'attempt', name=op.f('uq_outbound_calls_task_id'))
    )
    with op.batch_alter_table('outbound_calls', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_calls_purpose_state', ['purpose', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_calls_task_id'), ['task_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_calls_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_alerts_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('key', name=op.f('uq_alerts_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_resolved_created', ['resolved_at', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('daily_statistics',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('calls_offered', sa.Integer(), nullable=False),
    sa.Column('calls_answered', sa.Integer(), nullable=False),
    sa.Column('calls_abandoned_ivr', sa.Integer(), nullable=False),
    sa.Column('calls_abandoned_queue', sa.Integer(), nullable=False),
    sa.Column('tickets_opened', sa.Integer(), nullable=False),
    sa.Column('tickets_completed', sa.Integer(), nullable=False),
    sa.Column('surveys', sa.Integer(), nullable=False),
    sa.Column('rating_mean', sa.Float(), nullable=True),
    sa.Column('followups_unreachable', sa.Integer(), nullable=False),
    sa.Column('callbacks_placed', sa.Integer(), nullable=False),
    sa.Column('escalations', sa.Integer(), nullable=False),
    sa.Column('by_category', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_daily_statistics'))
    )


def downgrade() -> None:
    op.drop_table('daily_statistics')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_ticket_id'))
        batch_op.drop_index('ix_alerts_resolved_created')
    op.drop_table('alerts')
    with op.batch_alter_table('outbound_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_calls_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_calls_task_id'))
        batch_op.drop_index('ix_outbound_calls_purpose_state')
    op.drop_table('outbound_calls')
