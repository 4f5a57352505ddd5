"""registrations: workers registered on site, from gateway registration records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('registrations',
    sa.Column('gw_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('projectCode', sa.String(length=64), nullable=True),
    sa.Column('gatewayWorker', sa.String(length=32), nullable=False),
    sa.Column('workerId', sa.String(length=32), nullable=True),
    sa.Column('cardType', sa.String(length=32), nullable=True),
    sa.Column('idCardIndex', sa.String(length=64), nullable=True),
    sa.Column('idCardMasked', sa.String(length=32), nullable=True),
    sa.Column('idCardNumberEnc', sa.Text(), nullable=True),
    sa.Column('workerNameEnc', sa.Text(), nullable=True),
    sa.Column('teamName', sa.String(length=100), nullable=True),
    sa.Column('workType', sa.String(length=4), nullable=True),
    sa.Column('specialOp', sa.String(length=8), nullable=True),
    sa.Column('contractEnd', sa.Date(), nullable=True),
    sa.Column('certValidTo', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('registeredAt', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('gw_id', 'seq')
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_projectCode'), ['projectCode'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_projectCode'))
    op.drop_table('registrations')
