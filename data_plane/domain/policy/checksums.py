"""Check digits of the identifiers the PII detectors validate (pure, table-tested).

A pattern match only becomes a finding when its check digit holds, which is what keeps
look-alike numbers (order numbers, invoice ids) from being redacted."""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """Payment cards (ISO/IEC 7812): 13–19 digits whose Luhn sum is divisible by 10."""
    digits = digits_only(number)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """IBAN (ISO 13616): country code, two check digits, mod 97 of the rearranged number is 1."""
    s = _NON_ALNUM.sub("", iban).upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    rearranged = s[4:] + s[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


_NINO = re.compile(r"^([A-CEGHJ-PR-TW-Z])([A-CEGHJ-NPR-TW-Z])(\d{6})([A-D])$")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino_valid(nino: str) -> bool:
    """UK National Insurance number: no check digit, but HMRC's prefix and suffix rules
    (no D/F/I/Q/U/V, no O second, no BG/GB/KN/NK/NT/TN/ZZ prefix, suffix A–D)."""
    s = _NON_ALNUM.sub("", nino).upper()
    m = _NINO.match(s)
    return bool(m) and s[:2] not in _NINO_BAD_PREFIXES


def de_tax_id_valid(tax_id: str) -> bool:
    """German Steuer-IdNr: 11 digits, no leading 0, in the first ten exactly one digit
    repeated (twice, or three times not all adjacent) and the check digit of ISO 7064
    MOD 11,10."""
    d = digits_only(tax_id)
    if len(d) != 11 or d[0] == "0":
        return False
    first = d[:10]
    counts = sorted((first.count(c) for c in set(first)), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] > 1):
        return False
    if counts[0] == 3 and any(c * 3 in first for c in set(first)):
        return False
    product = 10
    for ch in first:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    return check == int(d[10])


_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NIF = re.compile(r"^([XYZ]?)(\d{7,8})([A-Z])$")


def es_nif_valid(nif: str) -> bool:
    """Spanish DNI/NIE: eight digits (NIE: X/Y/Z + seven) and the mod-23 control letter."""
    s = _NON_ALNUM.sub("", nif).upper()
    m = _NIF.match(s)
    if not m:
        return False
    prefix, number, letter = m.groups()
    if prefix:
        if len(number) != 7:
            return False
        number = str("XYZ".index(prefix)) + number
    elif len(number) != 8:
        return False
    return _NIF_LETTERS[int(number) % 23] == letter


def nl_bsn_valid(bsn: str) -> bool:
    """Dutch BSN: nine digits passing the 11-proof (weights 9..2, last digit weight -1)."""
    d = digits_only(bsn)
    if len(d) != 9 or d == "000000000":
        return False
    total = sum(int(ch) * w for ch, w in zip(d[:8], range(9, 1, -1), strict=True))
    total -= int(d[8])
    return total % 11 == 0


def us_ssn_plausible(ssn: str) -> bool:
    """US SSN has no check digit; the SSA never issues area 000/666/9xx, group 00 or
    serial 0000, nor the advertising numbers 078-05-1120 and 219-09-9999."""
    d = digits_only(ssn)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return d not in ("078051120", "219099999", "123456789")
