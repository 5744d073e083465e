"""Reading configuration files: YAML with the line of every key, what was read (for reload), secret
references (env:, file:). Below every package that parses a section of the config."""
