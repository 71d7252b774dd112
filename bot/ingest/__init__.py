"""The feed's trip: due feeds and leases, fetch, parse (in worker processes), write, health."""
