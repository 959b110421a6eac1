"""Accounts: sign-in, sessions, the first admin, invitations and the current user."""
