"""Clients that register themselves (RFC 7591/7592, Client ID Metadata Documents): how a client was
registered, its registration access token's digest, its echoed metadata, its document's freshness;
initial access tokens; client ids long enough for a metadata document's URL (PostgreSQL only: SQLite
does not enforce lengths).

Revision ID: 0007_client_registration
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_client_registration'
down_revision = '0006'
branch_labels = None
depends_on = None

# Every client_id column, the referenced one first.
CLIENT_ID_COLUMNS = ('clients', 'device_sessions', 'refresh_tokens', 'consents', 'authorization_codes',
                     'device_authorizations', 'security_events', 'outbox')


def _client_ids(length):
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in CLIENT_ID_COLUMNS:
        op.alter_column(table, 'client_id', type_=sa.String(length=length), existing_type=sa.String())


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('registration_token_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('registration_metadata', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('document_expires_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint('uq_clients_registration_token_digest', ['registration_token_digest'])
    op.create_table(
        'registration_tokens',
        sa.Column('token_digest', sa.String(length=64), nullable=False),
        sa.Column('uses_left', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('token_digest'),
    )
    _client_ids(255)


def downgrade():
    _client_ids(64)
    op.drop_table('registration_tokens')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_constraint('uq_clients_registration_token_digest', type_='unique')
        batch_op.drop_column('document_expires_at')
        batch_op.drop_column('registration_metadata')
        batch_op.drop_column('registration_token_digest')
        batch_op.drop_column('registration')
