"""IVR: queue turn kept for callbacks

Revision ID: 0007i
Revises: 0006f
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007i'
down_revision = '0006f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_requested_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('callback_queue', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('callback_queue_entered_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_tickets_callback_turn', ['callback_requested', 'callback_queue_entered_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_callback_turn')
        batch_op.drop_column('callback_queue_entered_at')
        batch_op.drop_column('callback_queue')
        batch_op.drop_column('callback_requested_at')
