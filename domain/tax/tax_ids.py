"""Customers' tax ids in Stripe's types (``eu_vat``, ``gb_vat``...), validated for format
and check digits with python-stdnum, a maintained library of these algorithms.

A valid number is not yet a registered business: whether VIES or HMRC know the number is
checked by Stripe in production (the tax id's ``verification``), which these rules cannot
do offline. A business rate is granted on a well-formed number, as Stripe Tax does while
verification is pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from stdnum import exceptions
from stdnum.au import abn
from stdnum.ca import bn
from stdnum.eu import vat as eu_vat
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin
from stdnum.us import ein

# Stripe's tax id type -> the stdnum module that knows its algorithm.
_VALIDATORS: dict[str, ModuleType] = {
    "eu_vat": eu_vat,
    "gb_vat": gb_vat,
    "au_abn": abn,
    "in_gst": gstin,
    "ca_bn": bn,
    "ca_gst_hst": bn,
    "us_ein": ein,
}
TAX_ID_TYPES = tuple(_VALIDATORS)

# VAT number prefixes that are not the ISO country code.
_VAT_PREFIXES = {"EL": "GR", "XI": "GB"}


class InvalidTaxId(ValueError):
    """Why a tax id is refused, in words an API problem can show."""


@dataclass(frozen=True)
class TaxId:
    type: str
    # The number as stdnum compacts it (no spaces or dots; EU VAT with its prefix).
    value: str
    # Where it was issued (ISO 3166-1 alpha-2).
    country: str


def validate_tax_id(type_: str, value: str) -> TaxId:
    """The tax id, normalized, or ``InvalidTaxId`` saying what is wrong with it."""
    module = _VALIDATORS.get(type_)
    if module is None:
        raise InvalidTaxId(f"unsupported tax id type {type_!r}; one of {', '.join(TAX_ID_TYPES)}")
    try:
        number = module.validate(value)
    except exceptions.InvalidChecksum:
        raise InvalidTaxId(f"{type_} {value!r}: the check digits do not match") from None
    except exceptions.InvalidLength:
        raise InvalidTaxId(f"{type_} {value!r}: wrong length") from None
    except exceptions.ValidationError:
        raise InvalidTaxId(f"{type_} {value!r}: not in the format of this type") from None
    if type_ == "ca_gst_hst" and len(number) != 15:
        # A GST/HST account is the business number with its RT program id (BN15).
        raise InvalidTaxId(f"ca_gst_hst {value!r}: expected a BN15 such as 123456789RT0001")
    return TaxId(type=type_, value=number, country=_country(type_, number))


def _country(type_: str, number: str) -> str:
    if type_ == "eu_vat":
        prefix = number[:2]
        return _VAT_PREFIXES.get(prefix, prefix)
    return {"gb_vat": "GB", "au_abn": "AU", "in_gst": "IN", "us_ein": "US"}.get(type_, "CA")
