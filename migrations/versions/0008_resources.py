"""Protected resources (RFC 8707): the registered resources, and the resources a code, a device
authorization and a device session were authorized for

Revision ID: 0008_resources
Revises: 0007_client_registration
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_resources'
down_revision = '0007_client_registration'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'resources',
        sa.Column('uri', sa.String(length=2048), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('scope', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('uri'),
    )
    for table in ('authorization_codes', 'device_authorizations', 'device_sessions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('resources', sa.Text(), nullable=True))


def downgrade():
    for table in ('device_sessions', 'device_authorizations', 'authorization_codes'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('resources')
    op.drop_table('resources')
