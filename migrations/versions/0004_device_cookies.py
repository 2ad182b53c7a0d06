"""device cookies: the per-device sign-in budget, and a user's own sign-ins by username and kind

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_cookie', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_security_events_username_kind_created', ['username', 'kind', 'created_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index('ix_security_events_username_kind_created')
        batch_op.drop_column('device_cookie')
