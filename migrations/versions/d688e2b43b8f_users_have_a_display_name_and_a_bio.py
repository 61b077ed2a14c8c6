"""Users have a display name and a bio

Revision ID: d688e2b43b8f
Revises: 37df9a644ce3
Create Date: 2026-12-03 17:34:25.314813

Every existing account starts without either (NULL): nothing to render, so
unlike posts' rendering no command needs to run after this upgrade. Code from
before this revision never writes the columns, so nodes still running it
during a rolling deploy leave them as they are.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd688e2b43b8f'
down_revision = '37df9a644ce3'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: NULL is "none given" (app/models.py, User).
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_name', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('bio', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('bio_html', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('bio_html')
        batch_op.drop_column('bio')
        batch_op.drop_column('display_name')
