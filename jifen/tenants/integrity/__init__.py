"""Integrity signals (诚信提示): patterns in the township's own records that a panel member should
look at — self-approval, outlying verifiers, bursts before a cut-off, shared photos, one phone
checking in many households. A signal never blocks anything; a reviewer marks it reviewed with a
reason."""
from jifen.tenants.integrity import policies  # noqa: F401 - registers who may do each action
