"""ingest counters on the gateway row: replays counted (not one rejection row each), parked
blocks expired

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('gateways', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replays', sa.BigInteger(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('last_replay_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('parked_expired', sa.BigInteger(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('last_parked_expired_at', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('gateways', schema=None) as batch_op:
        batch_op.drop_column('last_parked_expired_at')
        batch_op.drop_column('parked_expired')
        batch_op.drop_column('last_replay_at')
        batch_op.drop_column('replays')
