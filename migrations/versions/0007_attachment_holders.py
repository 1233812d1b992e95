"""attachment holders: every user who uploaded an attachment's bytes, not only the first

An attachment may be cited in a push only by a user who uploaded it or whose scope already cites
it (issue 11). ``attachment.uploaded_by`` keeps only the first uploader, so a second user holding
the same bytes could never cite them; each upload now adds its user here. Existing attachments
get their first uploader.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attachment_holder',
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sha256'], ['attachment.sha256'],
                            name=op.f('fk_attachment_holder_sha256_attachment')),
    sa.PrimaryKeyConstraint('sha256', 'user_id', name=op.f('pk_attachment_holder'))
    )
    op.execute("INSERT INTO attachment_holder (sha256, user_id, uploaded_at) "
               "SELECT sha256, uploaded_by, uploaded_at FROM attachment "
               "WHERE uploaded_by IS NOT NULL")


def downgrade() -> None:
    op.drop_table('attachment_holder')
