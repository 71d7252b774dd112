"""The `/news` command core: text → Command → Result, one module per subcommand; never raises,
knows no platform."""
