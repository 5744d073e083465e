"""Front-proxy configuration generation (``crm-gateway frontend``): nginx and Caddy configs that send bodyless
reads of decision-mode upstreams to the decision endpoint (gateway/decision/) and everything else to the
gateway's proxy mode."""
