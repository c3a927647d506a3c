"""The public catalog over HTTP: plans with their prices, and the add-ons."""
