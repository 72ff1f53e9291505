"""The local stack: the platform on one machine (moto, a local broker, the same handlers)."""
