"""worker: the host fingerprint a job ran with, and what the job found

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:21:39.726089
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('host_fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('summary')
        batch_op.drop_column('host_fingerprint')
