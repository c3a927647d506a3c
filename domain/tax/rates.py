"""Which taxes apply to a sale of software as a service, by the buyer's place.

The seller is registered where ``TaxSettings.seller_country`` says and sells digital
services: in the EU and the UK the buyer's country's VAT applies to consumers (the EU's
one-stop shop), and a business buyer with a valid VAT id abroad accounts for the VAT
itself (reverse charge); Australia's and India's GST follow the same rule for business
buyers of a foreign seller; Canada charges GST and, by province, HST, QST or PST; in the
United States only some states tax SaaS, at the state's rate here (local rates are Stripe
Tax's in production). Elsewhere nothing is charged.

Rates are those in force in 2026; a change of law is a change of this table (and of the
release notes), never of running code.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class TaxKind(StrEnum):
    VAT = "vat"
    GST = "gst"
    HST = "hst"
    PST = "pst"
    QST = "qst"
    SALES_TAX = "sales_tax"


@dataclass(frozen=True)
class TaxRate:
    """One tax at one rate: what an invoice shows on a tax line."""

    kind: TaxKind
    percentage: Decimal
    # ISO 3166 country, or country-subdivision (US-NY, CA-QC).
    jurisdiction: str
    display_name: str


D = Decimal

# Standard VAT rates of the EU's member states (digital services to consumers).
EU_VAT: dict[str, Decimal] = {
    "AT": D("20"), "BE": D("21"), "BG": D("20"), "CY": D("19"), "CZ": D("21"),
    "DE": D("19"), "DK": D("25"), "EE": D("24"), "ES": D("21"), "FI": D("25.5"),
    "FR": D("20"), "GR": D("24"), "HR": D("25"), "HU": D("27"), "IE": D("23"),
    "IT": D("22"), "LT": D("21"), "LU": D("17"), "LV": D("21"), "MT": D("18"),
    "NL": D("21"), "PL": D("23"), "PT": D("23"), "RO": D("21"), "SE": D("25"),
    "SI": D("22"), "SK": D("23"),
}  # fmt: skip

# States that tax SaaS, at the state rate (no local rates; states absent tax none).
US_SALES_TAX: dict[str, Decimal] = {
    "AZ": D("5.6"), "CT": D("1"), "DC": D("6"), "HI": D("4"), "IA": D("6"),
    "KY": D("6"), "MA": D("6.25"), "MS": D("7"), "NM": D("4.875"), "NY": D("4"),
    "OH": D("5.75"), "PA": D("6"), "RI": D("7"), "SC": D("6"), "SD": D("4.2"),
    "TN": D("7"), "TX": D("6.25"), "UT": D("6.1"), "WA": D("6.5"), "WV": D("6"),
}  # fmt: skip

# Canada: GST everywhere; HST replaces it in these provinces.
CA_GST = D("5")
CA_HST: dict[str, Decimal] = {
    "ON": D("13"),
    "NB": D("15"),
    "NL": D("15"),
    "NS": D("14"),
    "PE": D("15"),
}
# Provincial taxes charged next to the GST (Quebec's QST; British Columbia's,
# Manitoba's and Saskatchewan's PST on software).
CA_PROVINCIAL: dict[str, tuple[TaxKind, Decimal]] = {
    "QC": (TaxKind.QST, D("9.975")),
    "BC": (TaxKind.PST, D("7")),
    "MB": (TaxKind.PST, D("7")),
    "SK": (TaxKind.PST, D("6")),
}
UK_VAT = D("20")
AU_GST = D("10")
IN_GST = D("18")  # IGST on online services from abroad


def rates_for(country: str, region: str | None = None) -> tuple[TaxRate, ...]:
    """The taxes a consumer in ``country`` (``region``: US state, Canadian province) pays
    on SaaS, before any business exemption (see ``calculation.taxes_for``)."""
    country = country.upper()
    region = region.upper() if region else None
    if country in EU_VAT:
        return (TaxRate(TaxKind.VAT, EU_VAT[country], country, "VAT"),)
    if country == "GB":
        return (TaxRate(TaxKind.VAT, UK_VAT, "GB", "VAT"),)
    if country == "AU":
        return (TaxRate(TaxKind.GST, AU_GST, "AU", "GST"),)
    if country == "IN":
        return (TaxRate(TaxKind.GST, IN_GST, "IN", "IGST"),)
    if country == "US":
        if region in US_SALES_TAX:
            return (TaxRate(TaxKind.SALES_TAX, US_SALES_TAX[region], f"US-{region}", "Sales tax"),)
        return ()
    if country == "CA":
        if region in CA_HST:
            return (TaxRate(TaxKind.HST, CA_HST[region], f"CA-{region}", "HST"),)
        gst = TaxRate(TaxKind.GST, CA_GST, "CA", "GST")
        if region in CA_PROVINCIAL:
            kind, percentage = CA_PROVINCIAL[region]
            return (gst, TaxRate(kind, percentage, f"CA-{region}", kind.value.upper()))
        return (gst,)
    return ()


def reverse_charge_region(country: str) -> str | None:
    """The area within which a business buyer's valid tax id moves the tax to the buyer when
    the seller is outside the buyer's country: ``EU`` for member states, else the country
    (GB, AU, IN); None where no such rule applies here."""
    country = country.upper()
    if country in EU_VAT:
        return "EU"
    if country in {"GB", "AU", "IN"}:
        return country
    return None
