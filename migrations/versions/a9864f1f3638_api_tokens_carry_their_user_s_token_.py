"""API tokens carry their user's token generation

Revision ID: a9864f1f3638
Revises: 953181aa482f
Create Date: 2026-12-03 08:56:33.571936

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9864f1f3638'
down_revision = '953181aa482f'
branch_labels = None
depends_on = None


def upgrade():
    # Added as nullable, filled, then made NOT NULL. Every existing account and
    # its tokens share one starting generation, so tokens issued before this
    # revision keep working until the account's credentials are next revoked.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_generation', sa.String(length=32), nullable=True))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('generation', sa.String(length=32), nullable=True))

    users = sa.table('users', sa.column('token_generation', sa.String))
    api_tokens = sa.table('api_tokens', sa.column('generation', sa.String))
    op.execute(users.update().values(token_generation='initial'))
    op.execute(api_tokens.update().values(generation='initial'))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('token_generation', existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('generation', existing_type=sa.String(length=32), nullable=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('generation')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('token_generation')
