"""call records: queue position; callback tickets from messages

The queue position a caller joined at (``QueueCallerJoin`` / ``ENTERQUEUE``), and how far the
custom queue_log events written over AMI (dispatches, survey results) have got.  Tickets opened
from a left message use existing columns (``callback_requested``, ``description_recording``).

Revision ID: 0005c
Revises: 0004v
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005c'
down_revision = '0004v'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_position', sa.Integer(), nullable=True))
    op.create_table('queue_log_marks',
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('stream', name=op.f('pk_queue_log_marks'))
    )


def downgrade() -> None:
    op.drop_table('queue_log_marks')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('queue_position')
