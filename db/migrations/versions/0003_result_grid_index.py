"""HUD grid index: the cells of a page of commits on one host, from the index alone

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:00:22.822837

On PostgreSQL the index carries the columns a HUD cell shows (INCLUDE), so the grid's query is
an index-only scan that never reads the rows and their raw samples; SQLite ignores INCLUDE and
gets a plain (commit_id, host_id) index. Building it locks writes to ``result`` for as long as
the build takes (seconds for a million results).
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

GRID_INCLUDE = ['benchmark_id', 'verdict', 'change_pct', 'median', 'confidence', 'id']


def upgrade() -> None:
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.create_index('ix_result_grid', ['commit_id', 'host_id'], unique=False,
                              postgresql_include=GRID_INCLUDE)


def downgrade() -> None:
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.drop_index('ix_result_grid', postgresql_include=GRID_INCLUDE)
