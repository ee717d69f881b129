"""Accounts: county operators and township users, passwords, sessions, API tokens, setup links."""
