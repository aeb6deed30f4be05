"""strava tables: links, activity links, rate budget, webhook events, raw payloads, oauth states

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "strava_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("aspect_type", sa.String(length=16), nullable=False),
        sa.Column("event_time", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("updates", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "processing",
                "done",
                "failed",
                "dropped",
                name="strava_event_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strava_events")),
        sa.UniqueConstraint(
            "object_type",
            "object_id",
            "aspect_type",
            "event_time",
            name=op.f("uq_strava_events_object_type_object_id_aspect_type_event_time"),
        ),
    )
    with op.batch_alter_table("strava_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_strava_events_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "ix_strava_events_status_due", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "strava_rate_budget",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("read_limit_15m", sa.Integer(), nullable=False),
        sa.Column("read_limit_day", sa.Integer(), nullable=False),
        sa.Column("read_usage_15m", sa.Integer(), nullable=False),
        sa.Column("read_usage_day", sa.Integer(), nullable=False),
        sa.Column("overall_limit_15m", sa.Integer(), nullable=False),
        sa.Column("overall_limit_day", sa.Integer(), nullable=False),
        sa.Column("overall_usage_15m", sa.Integer(), nullable=False),
        sa.Column("overall_usage_day", sa.Integer(), nullable=False),
        sa.Column("window_15m_start", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_day", sa.String(length=10), nullable=True),
        sa.Column("blocked_until", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("block_reason", sa.Text(), nullable=True),
        sa.Column("app_status", sa.String(length=16), nullable=False),
        sa.Column("app_error", sa.Text(), nullable=True),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strava_rate_budget")),
    )
    op.create_table(
        "strava_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("strava_athlete_id", sa.BigInteger(), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text(), nullable=False),
        sa.Column("expires_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ok", "broken", "revoked", name="strava_link_status", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sync_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sync_started_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sync_after", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sync_before", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_strava_links_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strava_links")),
        sa.UniqueConstraint("athlete_id", name=op.f("uq_strava_links_athlete_id")),
        sa.UniqueConstraint("strava_athlete_id", name=op.f("uq_strava_links_strava_athlete_id")),
    )
    op.create_table(
        "strava_oauth_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_strava_oauth_states_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strava_oauth_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_strava_oauth_states_state_hash")),
    )
    op.create_table(
        "strava_raw",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("strava_activity_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fetched_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_strava_raw_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strava_raw")),
        sa.UniqueConstraint("strava_activity_id", name=op.f("uq_strava_raw_strava_activity_id")),
    )
    with op.batch_alter_table("strava_raw", schema=None) as batch_op:
        batch_op.create_index("ix_strava_raw_fetched_at", ["fetched_at"], unique=False)

    op.create_table(
        "strava_activity_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("strava_activity_id", sa.BigInteger(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_strava_activity_links_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_strava_activity_links_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strava_activity_links")),
        sa.UniqueConstraint(
            "strava_activity_id", name=op.f("uq_strava_activity_links_strava_activity_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("strava_activity_links")
    with op.batch_alter_table("strava_raw", schema=None) as batch_op:
        batch_op.drop_index("ix_strava_raw_fetched_at")

    op.drop_table("strava_raw")
    op.drop_table("strava_oauth_states")
    op.drop_table("strava_links")
    op.drop_table("strava_rate_budget")
    with op.batch_alter_table("strava_events", schema=None) as batch_op:
        batch_op.drop_index("ix_strava_events_status_due")
        batch_op.drop_index(batch_op.f("ix_strava_events_owner_id"))

    op.drop_table("strava_events")
