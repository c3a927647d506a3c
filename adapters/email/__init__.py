"""Email delivery: SendGrid in production, the outbox plus a log line by default."""
