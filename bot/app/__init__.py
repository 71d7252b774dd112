"""`newsbot run`: the wiring that builds the parts (database, adapters, scheduler, ingester,
delivery), starts them, serves /healthz and /metrics, and stops them."""
