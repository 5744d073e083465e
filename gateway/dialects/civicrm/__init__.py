"""The CiviCRM dialect: APIv3 and APIv4 requests read as CiviCRM reads them (dialect.py is the entry)."""
