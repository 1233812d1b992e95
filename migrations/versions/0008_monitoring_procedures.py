"""monitoring procedures: monitoring model v2 on the household, the procedure entity, county
policy for procedures

Carries today's data over: a 2014-2020 registered household (any poverty_status but none /
cancelled) becomes household_type ``exited`` (脱贫户), the others ``ordinary`` (一般农户); a
monitoring category other than none becomes monitoring_status ``monitored`` (风险未消除), since
the latest monitoring_started status event when there is one, with the risk types taken from
its causes that are risk types — or ``eliminated`` (风险已消除, on that day) when its latest
monitoring event is a risk_eliminated one, so a downgrade and upgrade keeps an elimination. ``poverty_status`` stays as history. The downgrade drops what the
upgrade added (monitoring_category and poverty_status were never touched).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

RISK_TYPES = ("illness", "disability", "schooling", "disaster", "accident", "business_failure",
              "unstable_job", "no_labor", "other")


def upgrade() -> None:
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    op.add_column('household', sa.Column('household_type', sqlmodel.sql.sqltypes.AutoString(
        length=20), nullable=True))
    op.add_column('household', sa.Column('monitoring_status', sqlmodel.sql.sqltypes.AutoString(
        length=20), nullable=True))
    op.add_column('household', sa.Column('risk_types', jsonb, nullable=False,
                                         server_default=sa.text("'[]'::jsonb")))
    op.alter_column('household', 'risk_types', server_default=None)
    op.add_column('household', sa.Column('monitoring_since', sa.Date(), nullable=True))
    op.add_column('household', sa.Column('eliminated_on', sa.Date(), nullable=True))
    op.add_column('household', sa.Column('elimination_method', sqlmodel.sql.sqltypes.AutoString(
        length=20), nullable=True))
    op.add_column('household', sa.Column('reservoir_migrant', sa.Boolean(), nullable=True))
    op.add_column('household', sa.Column('relocated', sa.Boolean(), nullable=True))
    op.add_column('household', sa.Column('relocation_site', sqlmodel.sql.sqltypes.AutoString(
        length=100), nullable=True))

    op.create_table('procedure',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('village_code', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('field_versions', jsonb, nullable=False),
    sa.Column('field_hlcs', jsonb, nullable=False),
    sa.Column('txid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text)::bigint'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.Column('updated_device', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('risk_types', jsonb, nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('proposed_on', sa.Date(), nullable=True),
    sa.Column('verifiers', jsonb, nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('visit_id', sa.Uuid(), nullable=True),
    sa.Column('review_note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('notice_start', sa.Date(), nullable=True),
    sa.Column('notice_end', sa.Date(), nullable=True),
    sa.Column('objection', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('objection_resolution', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('return_reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('decision_note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('stage_by', sa.Uuid(), nullable=True),
    sa.Column('stage_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_procedure_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedure'))
    )
    op.create_index(op.f('ix_procedure_household_id'), 'procedure', ['household_id'], unique=False)
    op.create_index('ix_procedure_scope_txid', 'procedure', ['village_code', 'txid', 'id'], unique=False)

    op.add_column('county_policy', sa.Column('notice_days', sa.Integer(), nullable=False,
                                             server_default='5'))
    op.add_column('county_policy', sa.Column('entry_deadline_days', sa.Integer(),
                                             nullable=False, server_default='15'))
    op.add_column('county_policy', sa.Column('min_monitored_days', sa.Integer(),
                                             nullable=False, server_default='180'))
    op.add_column('county_policy', sa.Column('monitoring_lines', jsonb, nullable=False,
                                             server_default=sa.text("'{}'::jsonb")))
    for column in ('notice_days', 'entry_deadline_days', 'min_monitored_days',
                   'monitoring_lines'):
        op.alter_column('county_policy', column, server_default=None)

    # carry today's data over (one statement; txid moves so devices pull the new values)
    risk_list = ", ".join(f"'{r}'" for r in RISK_TYPES)
    op.execute(f"""
        UPDATE household h SET
            household_type = CASE WHEN h.poverty_status IS NULL
                                    OR h.poverty_status IN ('none', 'cancelled')
                                  THEN 'ordinary' ELSE 'exited' END,
            monitoring_status = CASE WHEN coalesce(h.monitoring_category, 'none') = 'none'
                                     THEN 'none'
                                     WHEN last.kind = 'risk_eliminated' THEN 'eliminated'
                                     ELSE 'monitored' END,
            eliminated_on = CASE WHEN coalesce(h.monitoring_category, 'none') <> 'none'
                                  AND last.kind = 'risk_eliminated' THEN last.date END,
            monitoring_since = CASE WHEN coalesce(h.monitoring_category, 'none') = 'none'
                                    THEN NULL ELSE (
                SELECT max(e.date) FROM status_event e
                WHERE e.household_id = h.id AND e.kind = 'monitoring_started' AND NOT e.deleted)
                               END,
            risk_types = CASE WHEN coalesce(h.monitoring_category, 'none') = 'none'
                              THEN '[]'::jsonb ELSE coalesce((
                SELECT jsonb_agg(c.value ORDER BY c.ord) FROM (
                    SELECT x.value, x.ord FROM jsonb_array_elements_text(h.causes)
                        WITH ORDINALITY AS x(value, ord)
                    WHERE x.value IN ({risk_list}) ORDER BY x.ord LIMIT 3) c), '[]'::jsonb)
                         END,
            txid = (pg_current_xact_id()::text)::bigint
        FROM household h0 LEFT JOIN LATERAL (
            SELECT e.kind, e.date FROM status_event e
            WHERE e.household_id = h0.id AND NOT e.deleted
              AND e.kind IN ('monitoring_started', 'risk_eliminated')
            ORDER BY e.date DESC, e.kind = 'risk_eliminated' DESC LIMIT 1) last ON true
        WHERE h0.id = h.id
    """)


def downgrade() -> None:
    for column in ('monitoring_lines', 'min_monitored_days', 'entry_deadline_days',
                   'notice_days'):
        op.drop_column('county_policy', column)
    op.drop_index('ix_procedure_scope_txid', table_name='procedure')
    op.drop_index(op.f('ix_procedure_household_id'), table_name='procedure')
    op.drop_table('procedure')
    for column in ('relocation_site', 'relocated', 'reservoir_migrant', 'elimination_method',
                   'eliminated_on', 'monitoring_since', 'risk_types', 'monitoring_status',
                   'household_type'):
        op.drop_column('household', column)
