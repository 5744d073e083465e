"""What the CRM answers, made safe for the client: the credential guard, content decoding and the field
filter (see docs/security.md)."""
