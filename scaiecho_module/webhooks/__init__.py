"""Job webhooks: one signed POST per finished job, retried with backoff, state in the DB."""
