"""Seeded synthetic populations of care episodes (contract v1, JSON Lines).

One population is a stream of episodes drawn with ``random.Random(seed)`` only,
so that the same size, seed and profile always give byte-identical output. The
draws use integer weights and integer per-mille chances (no floats), money is
built from integer minor units and printed with the currency's decimals (two, or
three for TND). Episodes are produced one at a time: writing a population of any
size keeps constant memory.

Four profiles give realistic mixes for the four shipped currencies:

* ``fr``: France (EUR), médecin traitant, ALD, CSS, convention sectors 1/2/3;
* ``ma``: Morocco (MAD), private sector, AMO (ALD, AMO Tadamon), no gatekeeping today;
* ``uk``: England (GBP), GP registration, long-term conditions, exemption certificates;
* ``tn``: Tunisia (TND, millimes), CNAM, the insured's filière (``patient.filiere``, the
  one field beyond the contract: its episodes are for the Tunisia policy), APCI.

Every figure below is a modelling assumption; docs/population.md gives its
rationale and sources. Every episode respects the constraint of the shipped
policies: a visit with the declared doctor, or on their referral, implies that
the patient has a declared doctor.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, TypeVar

from ..files import Sink, open_output

T = TypeVar("T")

START = date(2024, 4, 1)
END = date(2026, 12, 31)
"""Visit dates are uniform over START..END: every shipped policy is in force."""

SPECIALTIES = (
    "general_practice", "pediatrics", "gynecology", "midwifery", "ophthalmology",
    "psychiatry", "neuropsychiatry", "stomatology", "dentistry", "cardiology",
    "dermatology", "endocrinology", "rheumatology", "gastroenterology", "other_specialist",
)

AGE_BANDS: tuple[tuple[int, int], ...] = ((0, 15), (16, 25), (26, 44), (45, 64), (65, 79),
                                          (80, 100))
"""Age bands (inclusive) used for the age mix and for chronic-condition rates."""

CHILD_AGE = 16
"""Below this age a patient is a child: pediatrics is possible, midwifery is not."""

# Specialties of children other than general practice and pediatrics (per mille of
# children's visits, 200 in all); the GP/pediatrics split of the other 800 is per profile.
_CHILD_OTHER: tuple[tuple[str, int], ...] = (
    ("ophthalmology", 40), ("dentistry", 60), ("dermatology", 30), ("psychiatry", 10),
    ("neuropsychiatry", 5), ("stomatology", 5), ("cardiology", 5), ("endocrinology", 10),
    ("gastroenterology", 5), ("other_specialist", 30),
)

Fee = Callable[[random.Random, date, str, str], int]
Sector = Callable[[random.Random, str], str]
Adjust = Callable[[random.Random, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Profile:
    """The mix of one population. Chances are per mille; weights are relative integers."""

    name: str
    country: str
    currency: str
    title: str
    age_weights: tuple[int, ...]             # one weight per AGE_BANDS entry (visits, not people)
    adult_specialties: tuple[tuple[str, int], ...]
    child_general_practice: int              # of the 800 per mille of children's visits
    child_pediatrics: int                    # that go to a GP or a pediatrician
    declared_doctor_child: int               # per mille, age < 16
    declared_doctor_adult: int               # per mille, age >= 16
    chronic_by_band: tuple[int, ...]         # per mille, one per AGE_BANDS entry
    low_income: int                          # per mille
    gp_with_declared: int                    # a GP visit of a patient with a declared doctor
    pediatrics_with_declared: int            # a pediatrics visit of such a patient
    specialist_with_declared: int            # another visit of such a patient
    referred: int                            # a non-GP visit of such a patient, not with them
    emergency: int
    away_from_home: int
    doctor_unavailable: int                  # a GP visit, declared doctor, not with them
    for_chronic_condition: int               # a visit of a chronic patient, within its care
    sector: Sector
    fee: Fee                                 # in minor units of the currency
    decimals: int = 2                        # of the currency's minor unit
    adjust: Adjust | None = None             # a last draw that completes the episode
    # Visits of one person in one calendar year: (lowest, highest, weight) buckets, the
    # bucket drawn once per person (how often they consult), the count each year in it.
    visits_per_year: tuple[tuple[int, int, int], ...] = (
        (1, 2, 300), (3, 5, 300), (6, 10, 220), (11, 20, 120), (21, 40, 60))
    households: bool = False                 # persons live in households (tn: its filière)


def _pick(rng: random.Random, items: Sequence[tuple[T, int]]) -> T:
    """A weighted draw with integer weights (one randrange call)."""
    point = rng.randrange(sum(weight for _, weight in items))
    for item, weight in items:
        if point < weight:
            return item
        point -= weight
    raise AssertionError("unreachable")  # pragma: no cover


def _chance(rng: random.Random, per_mille: int) -> bool:
    return rng.randrange(1000) < per_mille


def money(cents: int, decimals: int = 2) -> str:
    """Integer minor units as a decimal string with `decimals` decimals: 2650 → "26.50",
    and with three decimals (millimes) 45125 → "45.125"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    scale = 10 ** decimals
    return f"{sign}{cents // scale}.{cents % scale:0{decimals}d}"


# ---- France (EUR) --------------------------------------------------------------

_FR_NOT_PHYSICIAN = ("dentistry", "midwifery")
_GP_LIKE = ("general_practice", "pediatrics")


def _fr_tariff(day: date, specialty: str) -> int:
    """The sector-1 consultation price in cents (the convention's tariffs, as the France
    policy encodes them), used to make fees realistic."""
    late_2024 = day >= date(2024, 12, 22)
    mid_2025 = day >= date(2025, 7, 1)
    if specialty in _GP_LIKE:
        return 3000 if late_2024 else 2650
    if specialty in ("psychiatry", "neuropsychiatry"):
        return 5700 if mid_2025 else 5500 if late_2024 else 5170
    if specialty == "gynecology":
        return 4000 if mid_2025 else 3700 if late_2024 else 3150
    if specialty == "dentistry":
        return 2300
    if specialty == "midwifery":
        return 2500
    return 3150


def _fr_sector(rng: random.Random, specialty: str) -> str:
    if specialty in _FR_NOT_PHYSICIAN:
        return "1"
    if specialty in _GP_LIKE:
        return _pick(rng, (("1", 900), ("2", 95), ("3", 5)))
    return _pick(rng, (("1", 550), ("2", 430), ("3", 20)))


def _fr_fee(rng: random.Random, day: date, specialty: str, sector: str) -> int:
    tariff = _fr_tariff(day, specialty)
    if sector == "1":
        # a few sector-1 doctors bill an exceptional overrun (DE)
        return tariff if _chance(rng, 970) else tariff + 100 * rng.randint(5, 15)
    if sector == "2":
        overrun = rng.randint(3, 15) if specialty in _GP_LIKE else rng.randint(5, 30)
        return tariff + 100 * overrun
    return 100 * rng.randint(40, 80)


# ---- Morocco (MAD) ---------------------------------------------------------------

_MA_FEES: dict[str, tuple[tuple[int, int], ...]] = {
    "general_practice": ((150, 300), (200, 450), (250, 200), (300, 50)),
    "pediatrics": ((200, 300), (250, 350), (300, 250), (350, 100)),
    "gynecology": ((250, 250), (300, 400), (350, 200), (400, 150)),
    "midwifery": ((150, 600), (200, 400)),
    "dentistry": ((200, 350), (250, 300), (300, 250), (400, 100)),
    "psychiatry": ((300, 400), (350, 300), (400, 300)),
    "neuropsychiatry": ((300, 400), (350, 300), (400, 300)),
}
_MA_SPECIALIST = ((250, 250), (300, 400), (350, 200), (400, 150))


def _single_sector(rng: random.Random, specialty: str) -> str:
    return "1"


def _ma_fee(rng: random.Random, day: date, specialty: str, sector: str) -> int:
    """Private-sector consultation prices, in round dirhams."""
    return 100 * _pick(rng, _MA_FEES.get(specialty, _MA_SPECIALIST))


# ---- England (GBP) ------------------------------------------------------------------

def _uk_dental_band_1(day: date) -> int:
    """The NHS band 1 dental charge in pence (as the NHS-style policy encodes it)."""
    if day >= date(2026, 4, 1):
        return 2790
    if day >= date(2025, 4, 1):
        return 2740
    return 2680


def _uk_fee(rng: random.Random, day: date, specialty: str, sector: str) -> int:
    """What the visit costs, in pence: a private price (a covered NHS visit is free anyway,
    since the NHS-style policy's base is the fee); dentistry is the band 1 charge or a
    private check-up."""
    if specialty == "dentistry":
        return _uk_dental_band_1(day) if _chance(rng, 500) else 500 * rng.randint(8, 60)
    if specialty == "general_practice":
        return 500 * rng.randint(12, 24)        # 60..120
    if specialty in ("ophthalmology", "midwifery"):
        return 500 * rng.randint(12, 40)        # 60..200
    return 500 * rng.randint(30, 50)            # 150..250


# ---- Tunisia (TND, millimes) -------------------------------------------------------

_TN_FILIERES = (("publique", 500), ("privee", 250), ("remboursement", 250))
"""The insured's filière (per mille): a modelling assumption, see docs/population.md."""


def _tn_tariff(specialty: str) -> int:
    """The agreed consultation tariff in millimes (as the Tunisia policy encodes it)."""
    if specialty == "general_practice":
        return 45000
    if specialty in ("psychiatry", "neuropsychiatry"):
        return 62500
    if specialty == "dentistry":
        return 40000
    if specialty == "midwifery":
        return 30000
    return 52500


def _tn_fee(rng: random.Random, day: date, specialty: str, sector: str) -> int:
    """A private fee in millimes: the agreed tariff or up to 20 TND above it, by steps of
    0.125 TND (so that some amounts do not end in 0)."""
    tariff = _tn_tariff(specialty)
    return tariff if _chance(rng, 400) else tariff + 125 * rng.randint(1, 160)


_TN_SIZES = ((1, 200), (2, 200), (3, 200), (4, 200), (5, 120), (6, 80))
_TN_BANDS = (("low", 500), ("middle", 350), ("high", 150))


def household(rng: random.Random, number: int) -> Household:
    """A household of the `tn` profile: its size (the insured and dependants), the filière
    it chose for the year and the insured's salary band."""
    size = _pick(rng, _TN_SIZES)
    return Household(f"h-{number:07d}", size, _pick(rng, _TN_FILIERES), _pick(rng, _TN_BANDS))


def _tn_filiere(rng: random.Random, item: dict[str, Any]) -> None:
    """The household's filière (drawn here for a person without one); only the private
    filière has a declared family doctor, and a public-filière visit is charged the public
    facility's tariff."""
    patient, visit = item["patient"], item["visit"]
    filiere = patient.get("filiere") or _pick(rng, _TN_FILIERES)
    patient["filiere"] = filiere
    if filiere != "privee":
        patient["declared_doctor"] = False
        visit["with_declared_doctor"] = visit["referred"] = visit["doctor_unavailable"] = False
    if filiere == "publique":
        visit["fee"] = money(12000 if visit["specialty"] == "general_practice" else 20000, 3)


# ---- the profiles -----------------------------------------------------------------

PROFILES: dict[str, Profile] = {
    "fr": Profile(
        name="fr", country="FR", currency="EUR",
        title="France: médecin traitant, ALD, CSS, sectors 1/2/3 (EUR)",
        age_weights=(170, 90, 200, 260, 200, 80),
        adult_specialties=(
            ("general_practice", 560), ("gynecology", 55), ("midwifery", 15),
            ("ophthalmology", 50), ("psychiatry", 30), ("neuropsychiatry", 5),
            ("stomatology", 7), ("dentistry", 35), ("cardiology", 55), ("dermatology", 45),
            ("endocrinology", 22), ("rheumatology", 28), ("gastroenterology", 25),
            ("other_specialist", 68),
        ),
        child_general_practice=550, child_pediatrics=250,
        declared_doctor_child=500, declared_doctor_adult=900,
        chronic_by_band=(30, 40, 80, 200, 380, 580),
        low_income=110,
        gp_with_declared=800, pediatrics_with_declared=300, specialist_with_declared=20,
        referred=550, emergency=30, away_from_home=25, doctor_unavailable=150,
        for_chronic_condition=500,
        sector=_fr_sector, fee=_fr_fee,
    ),
    "ma": Profile(
        name="ma", country="MA", currency="MAD",
        title="Morocco: private sector, AMO, ALD, AMO Tadamon, no gatekeeping today (MAD)",
        age_weights=(240, 130, 260, 240, 100, 30),
        adult_specialties=(
            ("general_practice", 420), ("gynecology", 110), ("midwifery", 10),
            ("ophthalmology", 55), ("psychiatry", 15), ("neuropsychiatry", 10),
            ("stomatology", 10), ("dentistry", 70), ("cardiology", 60), ("dermatology", 60),
            ("endocrinology", 35), ("rheumatology", 30), ("gastroenterology", 35),
            ("other_specialist", 80),
        ),
        child_general_practice=350, child_pediatrics=450,
        declared_doctor_child=150, declared_doctor_adult=200,
        chronic_by_band=(20, 30, 60, 160, 300, 400),
        low_income=300,
        gp_with_declared=700, pediatrics_with_declared=300, specialist_with_declared=20,
        referred=250, emergency=30, away_from_home=25, doctor_unavailable=150,
        for_chronic_condition=500,
        sector=_single_sector, fee=_ma_fee,
    ),
    "uk": Profile(
        name="uk", country="GB", currency="GBP",
        title="England: GP registration, long-term conditions, exemptions (GBP)",
        age_weights=(160, 100, 220, 250, 190, 80),
        adult_specialties=(
            ("general_practice", 640), ("gynecology", 30), ("midwifery", 35),
            ("ophthalmology", 55), ("psychiatry", 25), ("neuropsychiatry", 5),
            ("stomatology", 5), ("dentistry", 90), ("cardiology", 25), ("dermatology", 20),
            ("endocrinology", 15), ("rheumatology", 15), ("gastroenterology", 15),
            ("other_specialist", 25),
        ),
        child_general_practice=700, child_pediatrics=100,
        declared_doctor_child=980, declared_doctor_adult=980,
        chronic_by_band=(80, 150, 250, 400, 600, 750),
        low_income=150,
        gp_with_declared=900, pediatrics_with_declared=0, specialist_with_declared=0,
        referred=850, emergency=30, away_from_home=20, doctor_unavailable=100,
        for_chronic_condition=500,
        sector=_single_sector, fee=_uk_fee,
    ),
    "tn": Profile(
        name="tn", country="TN", currency="TND",
        title="Tunisia: CNAM, three filières, APCI (TND, millimes)",
        age_weights=(250, 130, 250, 230, 110, 30),
        adult_specialties=(
            ("general_practice", 480), ("gynecology", 90), ("midwifery", 10),
            ("ophthalmology", 55), ("psychiatry", 15), ("neuropsychiatry", 10),
            ("stomatology", 10), ("dentistry", 70), ("cardiology", 65), ("dermatology", 45),
            ("endocrinology", 45), ("rheumatology", 30), ("gastroenterology", 30),
            ("other_specialist", 45),
        ),
        child_general_practice=450, child_pediatrics=350,
        declared_doctor_child=1000, declared_doctor_adult=1000,
        chronic_by_band=(20, 30, 70, 180, 330, 450),
        low_income=0,
        gp_with_declared=850, pediatrics_with_declared=200, specialist_with_declared=20,
        referred=650, emergency=30, away_from_home=20, doctor_unavailable=150,
        for_chronic_condition=550,
        sector=_single_sector, fee=_tn_fee, decimals=3, adjust=_tn_filiere, households=True,
    ),
}


def _age_band(age: int) -> int:
    for index, (low, high) in enumerate(AGE_BANDS):
        if low <= age <= high:
            return index
    raise ValueError(f"age {age} is outside every band")


def _specialty(rng: random.Random, profile: Profile, age: int) -> str:
    if age < CHILD_AGE:
        return _pick(rng, (("general_practice", profile.child_general_practice),
                           ("pediatrics", profile.child_pediatrics)) + _CHILD_OTHER)
    specialty = _pick(rng, profile.adult_specialties)
    if specialty == "midwifery" and age >= 50:
        specialty = "gynecology"
    return specialty


@dataclass(frozen=True, slots=True)
class Person:
    """What stays the same across one person's visits."""

    id: str
    age: int
    declared: bool
    chronic: bool
    low_income: bool
    visits: tuple[int, int]  # the bucket of visits per year
    household: Household | None = None


@dataclass(frozen=True, slots=True)
class Household:
    """What the members of one household share (the `tn` profile)."""

    id: str
    size: int
    filiere: str
    band: str  # the salary band of the insured


def person(rng: random.Random, profile: Profile, number: int) -> Person:
    """One person, drawn in a fixed order from `rng` (changing the order changes outputs)."""
    low, high = AGE_BANDS[_pick(rng, tuple(enumerate(profile.age_weights)))]
    age = rng.randint(low, high)
    declared = _chance(rng, profile.declared_doctor_child if age < CHILD_AGE
                       else profile.declared_doctor_adult)
    chronic = _chance(rng, profile.chronic_by_band[_age_band(age)])
    low_income = _chance(rng, profile.low_income)
    fewest, most = _pick(rng, tuple(((a, b), w) for a, b, w in profile.visits_per_year))
    return Person(f"p-{number:07d}", age, declared, chronic, low_income, (fewest, most))


def visit_days(rng: random.Random, who: Person) -> list[date]:
    """The days of one person's visits over START..END, in date order: each calendar year
    a count from the person's bucket (in proportion for a year the window cuts), at
    least one visit in all."""
    days: list[date] = []
    for year in range(START.year, END.year + 1):
        first, last = max(START, date(year, 1, 1)), min(END, date(year, 12, 31))
        span = (last - first).days + 1
        count = rng.randint(*who.visits) * span // 365
        days += [first + timedelta(days=rng.randrange(span)) for _ in range(count)]
    if not days:
        days.append(START + timedelta(days=rng.randrange((END - START).days + 1)))
    return sorted(days)


def episode(rng: random.Random, profile: Profile, number: int,
            who: Person | None = None, day: date | None = None) -> dict[str, Any]:
    """One visit of `who` on `day` (by default a new person's one visit on a random day),
    drawn in a fixed order from `rng` (changing the order changes outputs)."""
    if who is None:
        who = person(rng, profile, number)
    if day is None:
        day = START + timedelta(days=rng.randrange((END - START).days + 1))
    age, declared, chronic, low_income = who.age, who.declared, who.chronic, who.low_income
    specialty = _specialty(rng, profile, age)

    with_declared = referred = unavailable = False
    if declared:
        if specialty == "general_practice":
            with_declared = _chance(rng, profile.gp_with_declared)
            unavailable = not with_declared and _chance(rng, profile.doctor_unavailable)
        else:
            with_declared = _chance(rng, profile.pediatrics_with_declared
                                    if specialty == "pediatrics"
                                    else profile.specialist_with_declared)
            referred = not with_declared and _chance(rng, profile.referred)
    emergency = _chance(rng, profile.emergency)
    away = _chance(rng, profile.away_from_home)
    for_chronic = chronic and _chance(rng, profile.for_chronic_condition)
    sector = profile.sector(rng, specialty)
    fee = profile.fee(rng, day, specialty, sector)
    item: dict[str, Any] = {
        "id": f"ep-{number:07d}",
        "date": day.isoformat(),
        "patient": {
            "id": who.id,
            "age": age,
            "declared_doctor": declared,
            "chronic_condition": chronic,
            "low_income_cover": low_income,
        },
        "visit": {
            "specialty": specialty,
            "with_declared_doctor": with_declared,
            "referred": referred,
            "emergency": emergency,
            "away_from_home": away,
            "doctor_unavailable": unavailable,
            "for_chronic_condition": for_chronic,
            "sector": sector,
            "fee": money(fee, profile.decimals),
        },
    }
    home = who.household
    if home is not None:
        patient: dict[str, Any] = item["patient"]
        patient.update({"filiere": home.filiere, "household": home.id,
                                "salary_band": home.band, "dependants": home.size - 1})
    if profile.adjust is not None:
        profile.adjust(rng, item)
    return item


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; expected one of "
                         f"{', '.join(sorted(PROFILES))}") from None


def episodes(size: int, seed: int, profile: str = "fr") -> Iterator[dict[str, Any]]:
    """`size` episodes, numbered from ep-0000001, drawn from `random.Random(seed)`: person
    after person (p-0000001, …), each person's visits in date order."""
    if size < 0:
        raise ValueError(f"size must be 0 or more, not {size}")
    chosen = profile_named(profile)
    rng = random.Random(seed)
    number = people = homes = members = 0
    home: Household | None = None
    while number < size:
        people += 1
        who = person(rng, chosen, people)
        if chosen.households:
            if members == 0:
                homes += 1
                home = household(rng, homes)
                members = home.size
            members -= 1
            who = replace(who, household=home)
        for day in visit_days(rng, who):
            number += 1
            if number > size:
                return
            yield episode(rng, chosen, number, who, day)


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def lines(size: int, seed: int, profile: str = "fr") -> Iterator[str]:
    """The population as JSON Lines, one line (with its newline) at a time."""
    for item in episodes(size, seed, profile):
        yield _ENCODE(item) + "\n"


def write_population(handle: Sink, size: int, seed: int, profile: str = "fr") -> int:
    """Stream the population to `handle`, line by line; returns how many were written."""
    count = 0
    for line in lines(size, seed, profile):
        handle.write(line)
        count += 1
    return count


def write_population_file(target: str | os.PathLike[str], size: int, seed: int,
                          profile: str = "fr") -> int:
    """Stream the population into `target` (see `files.open_output`: a regular file is
    replaced atomically, a reader never sees half of it)."""
    profile_named(profile)  # fail before creating anything
    with open_output(target) as handle:
        count = write_population(handle, size, seed, profile)
    return count


__all__ = ["AGE_BANDS", "END", "Household", "PROFILES", "Person", "Profile", "SPECIALTIES", "START",
           "episode", "household", "person", "visit_days",
           "episodes", "lines", "money", "profile_named", "write_population",
           "write_population_file"]
