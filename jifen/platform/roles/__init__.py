"""Roles, scopes and the one authorization check every service function goes through."""
