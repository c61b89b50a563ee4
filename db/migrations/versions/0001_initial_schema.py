"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 01:17:25.144911
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
import db.base

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('benchmark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('precision', sa.String(length=20), nullable=False),
    sa.Column('variant', sa.String(length=50), nullable=False),
    sa.Column('metric', sa.String(length=50), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('direction', sa.Enum('lower', 'higher', name='direction', native_enum=False, length=10), nullable=False),
    sa.Column('family', sa.String(length=50), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benchmark')),
    sa.UniqueConstraint('model', 'mode', 'precision', 'variant', 'metric', name=op.f('uq_benchmark_model_mode_precision_variant_metric'))
    )
    op.create_table('host',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('cpu_model', sa.String(length=255), nullable=False),
    sa.Column('isa', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('cores', sa.String(length=200), nullable=False),
    sa.Column('numa_node', sa.Integer(), nullable=True),
    sa.Column('threads', sa.Integer(), nullable=False),
    sa.Column('torch_version', sa.String(length=50), nullable=False),
    sa.Column('kernel', sa.String(length=200), nullable=False),
    sa.Column('governor', sa.String(length=50), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('current_job_id', sa.Integer(), nullable=True),
    sa.Column('registered_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host')),
    sa.UniqueConstraint('name', name=op.f('uq_host_name'))
    )
    op.create_table('repository',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('clone_url', sa.String(length=1000), nullable=False),
    sa.Column('default_branch', sa.String(length=255), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repository')),
    sa.UniqueConstraint('full_name', name=op.f('uq_repository_full_name'))
    )
    op.create_table('webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=50), nullable=False),
    sa.Column('repository', sa.String(length=200), nullable=True),
    sa.Column('received_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_webhook_delivery_delivery_id'))
    )
    op.create_table('commit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('sha', sa.String(length=40), nullable=False),
    sa.Column('parents', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('committed_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('url', sa.String(length=1000), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repository.id'], name=op.f('fk_commit_repository_id_repository'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commit')),
    sa.UniqueConstraint('repository_id', 'sha', name=op.f('uq_commit_repository_id_sha'))
    )
    with op.batch_alter_table('commit', schema=None) as batch_op:
        batch_op.create_index('ix_commit_repository_committed', ['repository_id', 'committed_at'], unique=False)

    op.create_table('push',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('branch', sa.String(length=255), nullable=False),
    sa.Column('before_sha', sa.String(length=40), nullable=True),
    sa.Column('after_sha', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('delivery_id', sa.String(length=100), nullable=True),
    sa.Column('pull_number', sa.Integer(), nullable=True),
    sa.Column('received_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['repository_id'], ['repository.id'], name=op.f('fk_push_repository_id_repository'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push'))
    )
    with op.batch_alter_table('push', schema=None) as batch_op:
        batch_op.create_index('ix_push_repository_branch', ['repository_id', 'branch'], unique=False)

    op.create_table('alert_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('suspect_commit_id', sa.Integer(), nullable=False),
    sa.Column('push_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('open', 'confirmed', 'acknowledged', 'invalid', 'fixed', name='alert_group_state', native_enum=False, length=20), nullable=False),
    sa.Column('assignee', sa.String(length=100), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['push_id'], ['push.id'], name=op.f('fk_alert_group_push_id_push'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repository_id'], ['repository.id'], name=op.f('fk_alert_group_repository_id_repository'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['suspect_commit_id'], ['commit.id'], name=op.f('fk_alert_group_suspect_commit_id_commit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_group')),
    sa.UniqueConstraint('repository_id', 'suspect_commit_id', name=op.f('uq_alert_group_repository_id_suspect_commit_id'))
    )
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commit_id', sa.Integer(), nullable=False),
    sa.Column('suite', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.Enum('regular', 'confirm', 'bisect', name='job_kind', native_enum=False, length=20), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'succeeded', 'failed', 'cancelled', name='job_status', native_enum=False, length=20), nullable=False),
    sa.Column('queue', sa.String(length=120), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('dedup_key', sa.String(length=200), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('queued_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('log_tail', sa.Text(), nullable=True),
    sa.Column('command', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['commit_id'], ['commit.id'], name=op.f('fk_job_commit_id_commit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], name=op.f('fk_job_host_id_host'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_job_dedup_key'))
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index('ix_job_commit', ['commit_id'], unique=False)
        batch_op.create_index('ix_job_status_queued', ['status', 'queued_at'], unique=False)

    op.create_table('push_commit',
    sa.Column('push_id', sa.Integer(), nullable=False),
    sa.Column('commit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['commit_id'], ['commit.id'], name=op.f('fk_push_commit_commit_id_commit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['push_id'], ['push.id'], name=op.f('fk_push_commit_push_id_push'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('push_id', 'commit_id', name=op.f('pk_push_commit'))
    )
    with op.batch_alter_table('push_commit', schema=None) as batch_op:
        batch_op.create_index('ix_push_commit_commit', ['commit_id'], unique=False)

    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('benchmark_id', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('suspect_commit_id', sa.Integer(), nullable=False),
    sa.Column('last_good_commit_id', sa.Integer(), nullable=True),
    sa.Column('direction', sa.Enum('regression', 'improvement', name='alert_direction', native_enum=False, length=20), nullable=False),
    sa.Column('change_pct', sa.Float(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('state', sa.Enum('open', 'confirmed', 'acknowledged', 'invalid', 'fixed', name='alert_state', native_enum=False, length=20), nullable=False),
    sa.Column('assignee', sa.String(length=100), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['benchmark_id'], ['benchmark.id'], name=op.f('fk_alert_benchmark_id_benchmark'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['alert_group.id'], name=op.f('fk_alert_group_id_alert_group'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], name=op.f('fk_alert_host_id_host'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['last_good_commit_id'], ['commit.id'], name=op.f('fk_alert_last_good_commit_id_commit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repository_id'], ['repository.id'], name=op.f('fk_alert_repository_id_repository'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['suspect_commit_id'], ['commit.id'], name=op.f('fk_alert_suspect_commit_id_commit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('benchmark_id', 'host_id', 'suspect_commit_id', name=op.f('uq_alert_benchmark_id_host_id_suspect_commit_id'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_state', ['state'], unique=False)

    op.create_table('result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('benchmark_id', sa.Integer(), nullable=False),
    sa.Column('repository_id', sa.Integer(), nullable=False),
    sa.Column('commit_id', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('samples', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('median', sa.Float(), nullable=False),
    sa.Column('mean', sa.Float(), nullable=False),
    sa.Column('stdev', sa.Float(), nullable=False),
    sa.Column('p90', sa.Float(), nullable=False),
    sa.Column('p99', sa.Float(), nullable=False),
    sa.Column('created_at', db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verdict', sa.Enum('no_change', 'suspect', 'regression', 'improvement', name='verdict', native_enum=False, length=20), nullable=True),
    sa.Column('change_pct', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['benchmark_id'], ['benchmark.id'], name=op.f('fk_result_benchmark_id_benchmark'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['commit_id'], ['commit.id'], name=op.f('fk_result_commit_id_commit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], name=op.f('fk_result_host_id_host'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_result_job_id_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repository_id'], ['repository.id'], name=op.f('fk_result_repository_id_repository'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result')),
    sa.UniqueConstraint('job_id', 'benchmark_id', name=op.f('uq_result_job_id_benchmark_id'))
    )
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.create_index('ix_result_commit', ['commit_id'], unique=False)
        batch_op.create_index('ix_result_series', ['repository_id', 'benchmark_id', 'host_id', 'commit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('result', schema=None) as batch_op:
        batch_op.drop_index('ix_result_series')
        batch_op.drop_index('ix_result_commit')

    op.drop_table('result')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_state')

    op.drop_table('alert')
    with op.batch_alter_table('push_commit', schema=None) as batch_op:
        batch_op.drop_index('ix_push_commit_commit')

    op.drop_table('push_commit')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index('ix_job_status_queued')
        batch_op.drop_index('ix_job_commit')

    op.drop_table('job')
    op.drop_table('alert_group')
    with op.batch_alter_table('push', schema=None) as batch_op:
        batch_op.drop_index('ix_push_repository_branch')

    op.drop_table('push')
    with op.batch_alter_table('commit', schema=None) as batch_op:
        batch_op.drop_index('ix_commit_repository_committed')

    op.drop_table('commit')
    op.drop_table('webhook_delivery')
    op.drop_table('repository')
    op.drop_table('host')
    op.drop_table('benchmark')
