"""the console's start page: events by client and by kind, refreshes and session endings by hour

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.create_index('ix_security_events_client_created', ['client_id', 'created_at'], unique=False)
        batch_op.create_index('ix_security_events_kind_created', ['kind', 'created_at'], unique=False)
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_issued_at'), ['issued_at'], unique=False)
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_device_sessions_ended', ['ended_at'], unique=False)


def downgrade():
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_device_sessions_ended')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_issued_at'))
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index('ix_security_events_kind_created')
        batch_op.drop_index('ix_security_events_client_created')
