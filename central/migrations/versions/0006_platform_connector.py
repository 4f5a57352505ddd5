"""platform connector: delivery queue, objects, cursors, bank credentials and events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 21:27:47.436866

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # warning periods: a day plus a later episode ("2026-01-05#2") is longer than 10
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.alter_column('period', existing_type=sa.String(length=10),
                              type_=sa.String(length=16), existing_nullable=False)
    op.create_table('bank_credentials',
    sa.Column('bankCode', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secretEnc', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('createdAt', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('bankCode')
    )
    op.create_table('bank_events',
    sa.Column('bankCode', sa.String(length=8), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('projectCode', sa.String(length=64), nullable=False),
    sa.Column('eventDate', sa.Date(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('receivedAt', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('bankCode', 'serial')
    )
    with op.batch_alter_table('bank_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_events_projectCode'), ['projectCode'], unique=False)

    op.create_table('platform_cursors',
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('gw_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('target', 'gw_id')
    )
    op.create_table('platform_jobs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('projectCode', sa.String(length=64), nullable=False),
    sa.Column('objectKey', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('idemKey', sa.String(length=300), nullable=False),
    sa.Column('payloadEnc', sa.Text(), nullable=False),
    sa.Column('refs', sa.Text(), nullable=True),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('nextAt', sa.BigInteger(), nullable=False),
    sa.Column('deadlineAt', sa.BigInteger(), nullable=True),
    sa.Column('deadlineSource', sa.String(length=200), nullable=True),
    sa.Column('leaseUntil', sa.BigInteger(), nullable=True),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('method', sa.String(length=48), nullable=True),
    sa.Column('serial', sa.String(length=100), nullable=True),
    sa.Column('sentAt', sa.BigInteger(), nullable=True),
    sa.Column('lastError', sa.String(length=500), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('resolvedBy', sa.String(length=16), nullable=True),
    sa.Column('remoteId', sa.String(length=64), nullable=True),
    sa.Column('createdAt', sa.BigInteger(), nullable=False),
    sa.Column('updatedAt', sa.BigInteger(), nullable=False),
    sa.Column('doneAt', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idemKey')
    )
    with op.batch_alter_table('platform_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_platform_jobs_due', ['state', 'nextAt'], unique=False)
        batch_op.create_index('ix_platform_jobs_object', ['target', 'objectKey'], unique=False)
        batch_op.create_index(batch_op.f('ix_platform_jobs_projectCode'), ['projectCode'], unique=False)

    op.create_table('platform_objects',
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('objectKey', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('jobId', sa.Integer(), nullable=False),
    sa.Column('remoteId', sa.String(length=64), nullable=True),
    sa.Column('deliveredVersion', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('target', 'kind', 'objectKey')
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.alter_column('period', existing_type=sa.String(length=16),
                              type_=sa.String(length=10), existing_nullable=False)
    op.drop_table('platform_objects')
    with op.batch_alter_table('platform_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_jobs_projectCode'))
        batch_op.drop_index('ix_platform_jobs_object')
        batch_op.drop_index('ix_platform_jobs_due')

    op.drop_table('platform_jobs')
    op.drop_table('platform_cursors')
    with op.batch_alter_table('bank_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_events_projectCode'))

    op.drop_table('bank_events')
    op.drop_table('bank_credentials')
