"""downloads under faults: failure codes and streaks, host pauses, API call times

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('error_streak', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.create_index('ix_candidates_failures', ['status', 'camera', 'source', 'error_code',
                                                         'next_attempt_at'], unique=False)
    # failures recorded before codes existed: counted under "other"
    op.execute("UPDATE candidates SET error_code = 'other' WHERE status = 'failed'")
    op.create_table('api_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_calls'))
    )
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.create_index('ix_api_calls_source_at', ['source', 'at'], unique=False)
    # earlier runs' calls, stamped at their last save (the safe side: never earlier than made)
    op.execute("INSERT INTO api_calls (source, at, calls) SELECT source, updated_at, api_calls "
               "FROM scrape_runs WHERE api_calls > 0")
    op.create_table('host_pauses',
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('host', 'port', name=op.f('pk_host_pauses'))
    )


def downgrade() -> None:
    op.drop_table('host_pauses')
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_api_calls_source_at')
    op.drop_table('api_calls')
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_candidates_failures')
        batch_op.drop_column('error_streak')
        batch_op.drop_column('error_code')
