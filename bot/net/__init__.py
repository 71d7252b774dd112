"""The polite HTTP client: body caps, the private-address guard, per-origin pools, robots.txt
and per-host rate limits."""
