"""The worker process: registration of workflows and activities, and its tuning."""
