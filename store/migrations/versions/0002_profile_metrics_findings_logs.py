"""profile, derived metrics, findings, manual logs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:15:17.107392
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("evidence_grade", sa.String(length=1), nullable=False),
        sa.Column("citation", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("exercises", sa.JSON(), nullable=False),
        sa.Column("push", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_findings_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint(
            "athlete_id", "rule_id", "subject", name=op.f("uq_findings_athlete_id_rule_id_subject")
        ),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_findings_athlete_date", ["athlete_id", "local_date"], unique=False
        )

    op.create_table(
        "pain_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_pain_logs_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pain_logs")),
    )
    op.create_table(
        "strength_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("athlete_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["athlete_id"],
            ["athletes.id"],
            name=op.f("fk_strength_logs_athlete_id_athletes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strength_logs")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpe", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("derived", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("load", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("load_method", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("zone_minutes", sa.JSON(), nullable=True))

    with op.batch_alter_table("athletes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sex", sa.String(length=16), nullable=False, server_default="unspecified")
        )
        batch_op.add_column(sa.Column("hr_max", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("hr_rest", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("zone_floors_pct", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("strength_goal_per_week", sa.Integer(), nullable=False, server_default="2")
        )
        batch_op.add_column(
            sa.Column("units", sa.String(length=2), nullable=False, server_default="km")
        )
        batch_op.add_column(
            sa.Column("muted_rules", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("threshold_speed_mps", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("athletes", schema=None) as batch_op:
        batch_op.drop_column("threshold_speed_mps")
        batch_op.drop_column("muted_rules")
        batch_op.drop_column("units")
        batch_op.drop_column("strength_goal_per_week")
        batch_op.drop_column("zone_floors_pct")
        batch_op.drop_column("hr_rest")
        batch_op.drop_column("hr_max")
        batch_op.drop_column("sex")

    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_column("zone_minutes")
        batch_op.drop_column("load_method")
        batch_op.drop_column("load")
        batch_op.drop_column("derived")
        batch_op.drop_column("rpe")

    op.drop_table("strength_logs")
    op.drop_table("pain_logs")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_athlete_date")

    op.drop_table("findings")
