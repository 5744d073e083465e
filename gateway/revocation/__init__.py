"""Revoking tokens before their ``exp``: a deny-list by jti, subject and client id (see checker.py)."""
