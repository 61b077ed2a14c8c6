"""Posts keep their body rendered as HTML and an excerpt

Revision ID: 37df9a644ce3
Revises: 7e1b59e02cf9
Create Date: 2026-12-03 17:03:34.518402

Existing posts get their rendering from ``flask posts render``, run after this
upgrade (deploy/apache/README.md), not from this revision: rendering needs the
app's Markdown renderer, and revisions import no app code (a revision must
keep doing what it did when it was written). Until then, and for posts that a
node still running the older code writes during a deploy, the columns are
NULL and the app renders those posts when they are read.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '37df9a644ce3'
down_revision = '7e1b59e02cf9'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: rows written without them stay valid (see above). MEDIUMTEXT
    # on MariaDB: a body's HTML can outgrow TEXT's 64 KiB.
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_html', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql'), nullable=True))
        batch_op.add_column(sa.Column('excerpt', sa.String(length=280), nullable=True))


def downgrade():
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_column('excerpt')
        batch_op.drop_column('body_html')
