"""Load benchmark: the gateway's full pipeline against nginx as a plain proxy and the upstream itself."""
