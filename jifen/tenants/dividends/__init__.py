from jifen.tenants.dividends import policies  # noqa: F401 - registers who may do each action
