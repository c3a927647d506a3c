"""Regional prices: the regions an admin can put a customer in (``domain.regions``)."""
