"""Township staff and villagers' accounts: invitations, roles with scopes, disabling."""
