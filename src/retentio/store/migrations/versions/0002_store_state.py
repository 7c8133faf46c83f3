"""store identity and an integer data version that can be bumped atomically

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

``store_meta.data_version`` was TEXT, read then written: two PostgreSQL ingests committing together
could both write N+1 and the analytics snapshot would be stamped fresh while missing one of them.
``store_state`` is one row with an integer version bumped by ``UPDATE ... SET data_version =
data_version + 1 RETURNING`` (the row lock serialises concurrent bumps), and a random ``store_id``
that the snapshot is stamped with, so a snapshot is never taken for another store's.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("data_version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_store_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_state")),
    )
    conn = op.get_bind()
    old = conn.execute(sa.text("SELECT value FROM store_meta WHERE key = 'data_version'")).scalar()
    conn.execute(
        sa.text("INSERT INTO store_state (id, store_id, data_version) VALUES (1, :id, :v)"),
        {"id": str(uuid.uuid4()), "v": int(old or 0)},
    )
    conn.execute(sa.text("DELETE FROM store_meta WHERE key = 'data_version'"))


def downgrade() -> None:
    conn = op.get_bind()
    version = conn.execute(sa.text("SELECT data_version FROM store_state WHERE id = 1")).scalar()
    conn.execute(
        sa.text("INSERT INTO store_meta (key, value) VALUES ('data_version', :v)"), {"v": str(version or 0)}
    )
    op.drop_table("store_state")
