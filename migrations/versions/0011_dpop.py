"""DPoP (RFC 9449): the replay table of proofs' jti, a session's bound key, clients that require DPoP

Revision ID: 0011_dpop
Revises: 0010_ssf_streams
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_dpop'
down_revision = '0010_ssf_streams'
branch_labels = None
depends_on = None


def upgrade():
    # RFC 9449 §11.1: each proof's jti, once across every node (store/dpop_proofs.py)
    proof_hash = sa.Column('proof_hash', sa.String(length=64), nullable=False)
    op.create_table('used_dpop_proofs',
    proof_hash,
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('proof_hash')
    )
    with op.batch_alter_table('used_dpop_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_dpop_proofs_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=43), nullable=True))
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_bound_access_tokens', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('dpop_bound_access_tokens')
    with op.batch_alter_table('device_sessions', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
    with op.batch_alter_table('used_dpop_proofs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_dpop_proofs_expires_at'))
    op.drop_table('used_dpop_proofs')
