"""crm-auth-gateway: one bearer JWT in, CRM-native credentials out."""

__version__ = "0.1.0"
