"""The cough app: its build config is app.toml next to this file (see `tinyfuse demo cough`)."""
