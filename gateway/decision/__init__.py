"""Decision mode: the gateway as the external authorizer of a front proxy (nginx ``auth_request``, Caddy
``forward_auth``). The front proxy carries the bytes; the gateway decides and supplies the credential."""
