"""The EspoCRM dialect: REST routes read as EspoCRM routes them (dialect.py is the entry)."""
