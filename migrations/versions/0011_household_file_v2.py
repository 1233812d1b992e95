"""Household file v2: member health as a list, disability, school stage, employment, 增减员;
income breakdown; measure year, fund source and plan; visits linked to the helper with findings

Upgrade carries existing data over: ``member.health`` (one code) becomes a JSON list of that code
(``[]`` when empty), ``school_stage`` is taken from the v1 ``schooling`` stage codes, a transfer
income whose item names 低保/特困/养老 gets its ``item_kind``, a measure's ``year`` is the year of
its ``start_date`` and a visit is linked to the helper assignment that was current on its day.
Downgrade drops the new columns and turns ``health`` back into one code (the first of the list).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


MEMBER_COLUMNS = [
    ('disease', _text(100)), ('disability_category', _text(20)), ('disability_grade', _text(2)),
    ('family_doctor_signed', sa.Boolean()), ('school_stage', _text(30)),
    ('school_grade', sa.Integer()), ('joined_on', sa.Date()), ('joined_reason', _text(20)),
    ('left_on', sa.Date()), ('left_reason', _text(20)),
]
MEASURE_COLUMNS = [
    ('year', sa.Integer()), ('fund_source', _text(20)), ('planned_on', sa.Date()),
    ('planned_amount', sa.Numeric(14, 2, asdecimal=False)), ('done_on', sa.Date()),
]


def upgrade() -> None:
    op.execute("ALTER TABLE member ALTER COLUMN health TYPE JSONB USING CASE "
               "WHEN health IS NULL OR health = '' THEN '[]'::jsonb "
               "ELSE jsonb_build_array(health) END")
    op.execute("UPDATE member SET health = '[]'::jsonb WHERE health IS NULL")
    op.alter_column('member', 'health', nullable=False)
    for name, type_ in MEMBER_COLUMNS:
        op.add_column('member', sa.Column(name, type_, nullable=True))
    op.add_column('member', sa.Column('employment', postgresql.JSONB(astext_type=sa.Text()),
                                      nullable=False, server_default='[]'))
    op.alter_column('member', 'employment', server_default=None)
    op.execute("UPDATE member SET school_stage = CASE schooling "
               "WHEN 'vocational' THEN 'secondary_vocational' ELSE schooling END "
               "WHERE schooling IN ('preschool', 'primary', 'junior', 'senior', 'vocational', "
               "'college')")

    op.add_column('income_item', sa.Column('item_kind', _text(30), nullable=True))
    op.execute("UPDATE income_item SET item_kind = CASE "
               "WHEN item LIKE '%低保%' THEN 'dibao' WHEN item LIKE '%特困%' THEN 'tekun' "
               "WHEN item LIKE '%养老%' THEN 'pension' "
               "WHEN item LIKE '%生态%' THEN 'eco_compensation' ELSE 'other_transfer' END "
               "WHERE category = 'transfer'")

    for name, type_ in MEASURE_COLUMNS:
        op.add_column('measure', sa.Column(name, type_, nullable=True))
    op.execute("UPDATE measure SET year = extract(year FROM start_date)::int "
               "WHERE start_date IS NOT NULL")

    op.add_column('visit', sa.Column('helper_assignment_id', sa.Uuid(), nullable=True))
    op.add_column('visit', sa.Column('findings', postgresql.JSONB(astext_type=sa.Text()),
                                     nullable=False, server_default='[]'))
    op.alter_column('visit', 'findings', server_default=None)
    op.add_column('visit', sa.Column('finding_note', _text(2000), nullable=True))
    op.add_column('visit', sa.Column('proposes_entry', sa.Boolean(), nullable=True))
    op.execute("""
        UPDATE visit v SET helper_assignment_id = (
            SELECT h.id FROM helper_assignment h
            WHERE h.household_id = v.household_id AND NOT h.deleted
              AND (h.start_date IS NULL OR h.start_date <= (v.visited_at AT TIME ZONE 'Asia/Shanghai')::date)
              AND (h.end_date IS NULL OR h.end_date >= (v.visited_at AT TIME ZONE 'Asia/Shanghai')::date)
            ORDER BY h.start_date DESC NULLS LAST, h.id LIMIT 1)
    """)


def downgrade() -> None:
    for name in ('proposes_entry', 'finding_note', 'findings', 'helper_assignment_id'):
        op.drop_column('visit', name)
    for name, _type in reversed(MEASURE_COLUMNS):
        op.drop_column('measure', name)
    op.drop_column('income_item', 'item_kind')
    op.drop_column('member', 'employment')
    for name, _type in reversed(MEMBER_COLUMNS):
        op.drop_column('member', name)
    op.alter_column('member', 'health', nullable=True)
    op.execute("ALTER TABLE member ALTER COLUMN health TYPE VARCHAR(20) USING health ->> 0")
