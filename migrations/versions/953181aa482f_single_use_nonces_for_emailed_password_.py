"""Single-use nonces for emailed password-reset and email-change links

Revision ID: 953181aa482f
Revises: 93224794ff54
Create Date: 2026-12-03 08:07:31.960368

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '953181aa482f'
down_revision = '93224794ff54'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: no link is outstanding for any existing account.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_reset_nonce', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email_change_nonce', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_change_nonce')
        batch_op.drop_column('password_reset_nonce')
