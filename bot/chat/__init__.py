"""What goes to a channel: the adapter-neutral message model, alert and digest rendering, the
channels, and delivery from the outbox (retries, never twice). Knows no platform."""
