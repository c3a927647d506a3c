"""Pricing experiments on the catalog: definitions and variant terms (``model``), the
sign-up's variant (``assignment``), the statistics (``stats``) and the results per variant
with their guardrails (``results``). Pure: the database and the API feed them."""
