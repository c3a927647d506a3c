"""Security controls for admins: the API key access review, revocation, the security event
log and the money-movement freeze (issue 16 parts 6 and 7)."""
