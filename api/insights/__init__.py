"""What the engine foresees about a customer (admin scope): churn risk and its reasons."""
