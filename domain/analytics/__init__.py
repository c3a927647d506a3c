"""Forward-looking answers from the engine's own records (churn risk first). Pure: the
histories come in as values, the models go out as values."""
