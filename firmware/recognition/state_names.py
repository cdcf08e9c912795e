"""What US plates print about their state: each state's name and the slogans its usual plates carry.

Plain data, no logic (firmware/recognition/state.py matches against it). Only words that name one state
are here: "In God We Trust" (several states) and "dmv.gov"-style addresses without the state are left
out, because a phrase shared by two states cannot tell them apart. A city a dealer frame names that is
also a state ("Washington", "Nevada", "Kansas City") is the known risk: state.py therefore never lets a
single word outside the header band decide on its own.
"""

from __future__ import annotations

# USPS code -> the name as printed (upper case; matching folds case and drops punctuation)
STATE_NAMES: dict[str, str] = {
    "AL": "ALABAMA", "AK": "ALASKA", "AZ": "ARIZONA", "AR": "ARKANSAS", "CA": "CALIFORNIA",
    "CO": "COLORADO", "CT": "CONNECTICUT", "DE": "DELAWARE", "DC": "DISTRICT OF COLUMBIA", "FL": "FLORIDA",
    "GA": "GEORGIA", "HI": "HAWAII", "ID": "IDAHO", "IL": "ILLINOIS", "IN": "INDIANA", "IA": "IOWA",
    "KS": "KANSAS", "KY": "KENTUCKY", "LA": "LOUISIANA", "ME": "MAINE", "MD": "MARYLAND",
    "MA": "MASSACHUSETTS", "MI": "MICHIGAN", "MN": "MINNESOTA", "MS": "MISSISSIPPI", "MO": "MISSOURI",
    "MT": "MONTANA", "NE": "NEBRASKA", "NV": "NEVADA", "NH": "NEW HAMPSHIRE", "NJ": "NEW JERSEY",
    "NM": "NEW MEXICO", "NY": "NEW YORK", "NC": "NORTH CAROLINA", "ND": "NORTH DAKOTA", "OH": "OHIO",
    "OK": "OKLAHOMA", "OR": "OREGON", "PA": "PENNSYLVANIA", "RI": "RHODE ISLAND", "SC": "SOUTH CAROLINA",
    "SD": "SOUTH DAKOTA", "TN": "TENNESSEE", "TX": "TEXAS", "UT": "UTAH", "VT": "VERMONT", "VA": "VIRGINIA",
    "WA": "WASHINGTON", "WV": "WEST VIRGINIA", "WI": "WISCONSIN", "WY": "WYOMING",
}

# Other printed forms of a state's name (DC plates say "WASHINGTON, DC": longer phrases win over
# the WASHINGTON inside them, see state.py)
NAME_VARIANTS: dict[str, tuple[str, ...]] = {
    "DC": ("WASHINGTON DC", "WASHINGTON D C"),
    "CA": ("CA EXEMPT",),
}

# Slogans of the standard (and most common) plates, one state each
SLOGANS: dict[str, tuple[str, ...]] = {
    "AL": ("SWEET HOME ALABAMA", "HEART OF DIXIE"),
    "AK": ("THE LAST FRONTIER", "NORTH TO THE FUTURE"),
    "AZ": ("GRAND CANYON STATE",),
    "AR": ("THE NATURAL STATE",),
    "CA": ("DMV CA GOV",),
    "CO": ("COLORFUL COLORADO",),
    "CT": ("CONSTITUTION STATE",),
    "DE": ("THE FIRST STATE",),
    "DC": ("TAXATION WITHOUT REPRESENTATION", "END TAXATION WITHOUT REPRESENTATION"),
    "FL": ("SUNSHINE STATE", "MYFLORIDA COM"),
    "GA": ("PEACH STATE",),
    "HI": ("ALOHA STATE",),
    "ID": ("FAMOUS POTATOES", "SCENIC IDAHO"),
    "IL": ("LAND OF LINCOLN",),
    "IN": ("CROSSROADS OF AMERICA",),
    "KY": ("UNBRIDLED SPIRIT",),
    "LA": ("SPORTSMANS PARADISE", "SPORTSMAN S PARADISE", "PELICAN STATE"),
    "ME": ("VACATIONLAND",),
    "MA": ("THE SPIRIT OF AMERICA",),
    "MI": ("GREAT LAKES", "PURE MICHIGAN", "GREAT LAKE STATE", "WATER WINTER WONDERLAND"),
    "MN": ("10 000 LAKES", "EXPLORE MINNESOTA"),
    "MS": ("THE HOSPITALITY STATE",),
    "MO": ("SHOW ME STATE",),
    "MT": ("BIG SKY COUNTRY", "TREASURE STATE"),
    "NE": ("THE GOOD LIFE",),
    "NV": ("THE SILVER STATE", "BATTLE BORN"),
    "NH": ("LIVE FREE OR DIE",),
    "NJ": ("GARDEN STATE",),
    "NM": ("LAND OF ENCHANTMENT",),
    "NY": ("THE EMPIRE STATE", "EXCELSIOR"),
    "NC": ("FIRST IN FLIGHT", "FIRST IN FREEDOM"),
    "ND": ("PEACE GARDEN STATE", "DISCOVER THE SPIRIT"),
    "OH": ("BIRTHPLACE OF AVIATION",),
    "OK": ("NATIVE AMERICA", "EXPLORE OKLAHOMA"),
    "PA": ("VISITPA COM",),
    "RI": ("OCEAN STATE",),
    "SC": ("WHILE I BREATHE I HOPE",),
    "SD": ("GREAT FACES GREAT PLACES",),
    "TN": ("THE VOLUNTEER STATE",),
    "TX": ("THE LONE STAR STATE",),
    "UT": ("LIFE ELEVATED", "GREATEST SNOW ON EARTH"),
    "VT": ("GREEN MOUNTAIN STATE",),
    "VA": ("VIRGINIA IS FOR LOVERS",),
    "WA": ("EVERGREEN STATE",),
    "WV": ("WILD WONDERFUL", "ALMOST HEAVEN"),
    "WI": ("AMERICAS DAIRYLAND",),
    "WY": ("LIKE NO PLACE ON EARTH",),
}


def _phrases() -> tuple[tuple[str, str], ...]:
    out = [(name, code) for code, name in STATE_NAMES.items()]
    out += [(v, code) for code, vs in NAME_VARIANTS.items() for v in vs]
    out += [(s, code) for code, ss in SLOGANS.items() for s in ss]
    return tuple(out)


# (phrase, USPS code) for every name, variant and slogan: what the matcher searches for
STATE_WORDS: tuple[tuple[str, str], ...] = _phrases()
