"""What crosses the wire in a client's request and the CRM's answer: where a token may sit, header hygiene."""
