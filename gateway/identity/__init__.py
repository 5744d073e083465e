"""Per-person CRM identities: fields taken from token claims or resolved through the CRM."""
