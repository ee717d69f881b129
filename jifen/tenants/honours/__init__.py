from jifen.tenants.honours import policies  # noqa: F401 - registers who may do each action
