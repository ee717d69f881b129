from jifen.tenants.rankings import policies  # noqa: F401 - registers who may do each action
