"""The `newsbot` command: one module per command group, thin over the rooms below."""
