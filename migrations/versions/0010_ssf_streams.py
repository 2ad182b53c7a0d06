"""ssf_streams: Shared Signals Framework event streams (where security events are pushed)

Revision ID: 0010_ssf_streams
Revises: 0009_token_exchange
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_ssf_streams'
down_revision = '0009_token_exchange'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ssf_streams',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('audience', sa.String(length=500), nullable=False),
    sa.Column('endpoint_url', sa.Text(), nullable=False),
    sa.Column('authorization_header', sa.Text(), nullable=True),
    sa.Column('events_requested', sa.Text(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('status_reason', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ssf_streams', schema=None) as batch_op:
        batch_op.create_index('ix_ssf_streams_client_id', ['client_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ssf_streams', schema=None) as batch_op:
        batch_op.drop_index('ix_ssf_streams_client_id')
    op.drop_table('ssf_streams')
