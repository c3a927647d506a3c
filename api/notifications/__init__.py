"""In-app notifications over HTTP, for the app to show: list, and mark read."""
