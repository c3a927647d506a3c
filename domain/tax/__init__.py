"""Tax on what the engine sells: the rates it charges where (``rates``), the tax ids that
change them (``tax_ids``, validated with python-stdnum) and the arithmetic of an invoice's
tax lines (``calculation``). In production Stripe Tax computes the tax (``automatic_tax``)
and these rules are what the payment simulator charges, so both invoice alike."""
