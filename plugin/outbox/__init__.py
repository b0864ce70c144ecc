"""Events out (contract §6): a persisted outbox and its delivery with retries."""
