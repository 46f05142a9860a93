"""Talking to the systems around us: signed webhooks from the outbox, and the worker that delivers them
(and sweeps expired holds)."""
