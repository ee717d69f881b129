"""Fund coverage (issue 13): what the township's points are worth in money, the store's funding
(budget, donations, collective income), and whether funds and stock cover the points households
can still spend. The nightly job `jifen.fund_coverage` writes a dated snapshot per scope; pages
read snapshots only, never the ledger."""
from jifen.tenants.funds import policies  # noqa: F401 - registers who may do each action
