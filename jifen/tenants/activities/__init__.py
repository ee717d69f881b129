"""Activities (志愿服务, 集中整治行动, 党员志愿者服务): sign-up, attendance, check-in codes, and the
applications attendance turns into."""
from jifen.tenants.activities import policies  # noqa: F401 - registers who may do each action
