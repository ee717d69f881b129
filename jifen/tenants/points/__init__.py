"""Points: applications and their judging (verification, certification, public notice, objections)
and the ledger they post to."""
from jifen.tenants.points import policies  # noqa: F401 - registers who may do each action
