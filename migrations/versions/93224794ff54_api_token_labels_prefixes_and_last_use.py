"""API token labels, prefixes and last use

Revision ID: 93224794ff54
Revises: 9cd56219af4c
Create Date: 2026-12-03 07:42:46.114151

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '93224794ff54'
down_revision = '9cd56219af4c'
branch_labels = None
depends_on = None


def upgrade():
    # Added as nullable, filled, then made NOT NULL: tokens issued before this
    # revision get the default label, and an empty prefix (only the secret's hash
    # was kept, so its first characters are unknown; the pages say "not recorded").
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('prefix', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(), nullable=True))

    api_tokens = sa.table('api_tokens', sa.column('label', sa.String), sa.column('prefix', sa.String))
    op.execute(api_tokens.update().values(label='API token', prefix=''))

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('label', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prefix', existing_type=sa.String(length=8), nullable=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('prefix')
        batch_op.drop_column('label')
