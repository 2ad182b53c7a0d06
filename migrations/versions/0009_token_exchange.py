"""Token exchange (RFC 8693): sessions imported from an older store, exchanged once for a device session

Revision ID: 0009_token_exchange
Revises: 0008_resources
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_token_exchange'
down_revision = '0008_resources'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'legacy_sessions',
        sa.Column('token_digest', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('device_name', sa.String(length=200), nullable=True),
        sa.Column('user_agent', sa.String(length=512), nullable=True),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('imported_at', sa.DateTime(), nullable=False),
        sa.Column('exchanged_at', sa.DateTime(), nullable=True),
        sa.Column('session_id', sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_digest'),
    )
    op.create_index('ix_legacy_sessions_user_id', 'legacy_sessions', ['user_id'], unique=False)
    op.create_index('ix_legacy_sessions_exchanged_at', 'legacy_sessions', ['exchanged_at'], unique=False)


def downgrade():
    op.drop_index('ix_legacy_sessions_exchanged_at', table_name='legacy_sessions')
    op.drop_index('ix_legacy_sessions_user_id', table_name='legacy_sessions')
    op.drop_table('legacy_sessions')
