"""Reports: the county's 收入骤减 share, and income looked up by (household, year)

Adds ``county_policy.income_drop_share`` (default 0.3: 应纳未纳 warns when 人均纯收入 fell by
more than that share against the year before) and replaces the index on
``income_item(household_id)`` with one on ``(household_id, year)`` that carries category,
amount and deleted, so the latest year's income of every household is read from the index alone
(the 应纳未纳 report) at no extra write cost. The downgrade restores both.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('county_policy', sa.Column('income_drop_share', sa.Float(), nullable=False,
                                             server_default='0.3'))
    op.alter_column('county_policy', 'income_drop_share', server_default=None)
    op.create_index('ix_income_item_household_year', 'income_item', ['household_id', 'year'],
                    unique=False, postgresql_include=['category', 'amount', 'deleted'])
    op.drop_index('ix_income_item_household_id', table_name='income_item')


def downgrade() -> None:
    op.create_index('ix_income_item_household_id', 'income_item', ['household_id'],
                    unique=False)
    op.drop_index('ix_income_item_household_year', table_name='income_item')
    op.drop_column('county_policy', 'income_drop_share')
