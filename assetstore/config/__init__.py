"""Configuration: one table of options, settings resolved by precedence from arguments,
flags, the environment and the config file, and the config file itself."""
