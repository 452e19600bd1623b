"""pixel-true originals: encoder signatures, pixel facts, verdict details and flags

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pixel_json', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('pixel_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pixel_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_images_signature'), ['signature'], unique=False)
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signatures_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pixel_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('flags', sa.String(length=128), nullable=True))
    with op.batch_alter_table('verdict_reasons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('verdict_reasons', schema=None) as batch_op:
        batch_op.drop_column('detail')
    with op.batch_alter_table('verdicts', schema=None) as batch_op:
        batch_op.drop_column('flags')
        batch_op.drop_column('pixel_hash')
        batch_op.drop_column('signatures_hash')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_images_signature'))
        batch_op.drop_column('pixel_hash')
        batch_op.drop_column('pixel_version')
        batch_op.drop_column('pixel_json')
        batch_op.drop_column('signature')
