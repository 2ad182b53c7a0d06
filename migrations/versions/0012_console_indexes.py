"""the console's start page: events by client and by kind, refreshes and session endings by hour

Revision ID: 0012_console_indexes
Revises: 0011_dpop
"""
from alembic import op

revision = '0012_console_indexes'
down_revision = '0011_dpop'
branch_labels = None
depends_on = None

# Indexes only (no table is rebuilt, so no batch mode): what the console's start page reads
# (store/activity.py, security_events.search_events), each by the column it filters on, then time.
INDEXES = (
    ('ix_security_events_client_created', 'security_events', ['client_id', 'created_at']),
    ('ix_security_events_kind_created', 'security_events', ['kind', 'created_at']),
    ('ix_refresh_tokens_issued_at', 'refresh_tokens', ['issued_at']),
    ('ix_device_sessions_ended', 'device_sessions', ['ended_at']),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
