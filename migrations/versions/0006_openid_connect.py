"""OpenID Connect: the nonce and sign-in of an authorization code, a session's sign-in time and browser,
clients' logout URIs

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('auth_time', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('browser_session_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_authorization_codes_client_nonce', ['client_id', 'nonce'], unique=False)
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_time', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('browser_session_id', sa.String(length=36), nullable=True))
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('post_logout_redirect_uris', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('backchannel_logout_uri', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('backchannel_logout_uri')
        batch_op.drop_column('post_logout_redirect_uris')
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.drop_column('browser_session_id')
        batch_op.drop_column('auth_time')
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_authorization_codes_client_nonce')
        batch_op.drop_column('browser_session_id')
        batch_op.drop_column('auth_time')
        batch_op.drop_column('nonce')
