"""Users keep their number of posts

Revision ID: 7e1b59e02cf9
Revises: a9864f1f3638
Create Date: 2026-12-03 13:07:23.630923

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7e1b59e02cf9'
down_revision = 'a9864f1f3638'
branch_labels = None
depends_on = None


def upgrade():
    # Lists read this instead of counting every post (app/post_counts.py);
    # existing accounts start from their posts as they are.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('post_count', sa.Integer(), server_default='0', nullable=False))

    op.execute(
        "UPDATE users SET post_count = "
        "(SELECT COUNT(*) FROM posts WHERE posts.user_id = users.id)"
    )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('post_count')
