"""Faker cardholders with habits, and the merchants they buy from.

Every random choice comes from one seeded `random.Random` (plus a Faker seeded from it),
so the same seed gives the same people, cards, places and habits.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from itertools import accumulate

from faker import Faker

from models.contracts.card import luhn_check_digit

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class PopulationConfig:
    """How normal cardholders behave (ranges are drawn per user)."""

    merchant_pool: int = 400
    online_merchant_share: float = 0.35
    usual_merchants: tuple[int, int] = (3, 10)
    typical_amount: tuple[float, float] = (12.0, 250.0)
    amount_log_sd: tuple[float, float] = (0.3, 0.7)
    transactions_per_day: tuple[float, float] = (0.5, 6.0)
    active_hour_local: tuple[float, float] = (10.0, 20.0)
    active_hour_sd: tuple[float, float] = (1.5, 3.5)
    new_merchant_prob: float = 0.03
    min_minutes_apart: float = 5.0  # between a person's unrelated purchases
    quick_repeat_prob: float = 0.03  # a second purchase seconds later at the same shop
    big_purchase_prob: float = 0.005  # a legitimate 3-8x purchase
    big_purchase_multiplier: tuple[float, float] = (3.0, 8.0)
    trip_prob: float = 0.01  # chance that a transaction is followed by a trip
    trip_days: tuple[float, float] = (1.0, 5.0)
    travel_kmh: float = 700.0  # door-to-door speed of a real journey
    fraud_merchant_share: float = 0.05  # online shops that fraud favours (also sell to others)

    def __post_init__(self) -> None:
        for name in (
            "new_merchant_prob",
            "quick_repeat_prob",
            "big_purchase_prob",
            "trip_prob",
            "fraud_merchant_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value}")
        if self.merchant_pool < self.usual_merchants[1] * 2:
            raise ValueError("merchant_pool must be at least twice the most usual merchants")


@dataclass(frozen=True)
class Place:
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    online: bool


@dataclass
class Trip:
    place: Place
    depart_ms: int
    arrive_ms: int
    leave_ms: int
    home_again_ms: int


@dataclass
class Cardholder:
    """A user with a card, a home and habits; `history` counts emitted transactions."""

    user_id: str
    name: str
    card_number: str
    home: Place
    utc_offset_h: int
    active_hour_local: float
    active_hour_sd: float
    log_typical_amount: float
    amount_log_sd: float
    per_day: float
    merchants: tuple[Merchant, ...]
    merchant_cum_weights: tuple[float, ...]  # Zipf-like: the first is the favourite
    history: int = 0
    trip: Trip | None = field(default=None)
    quiet_until_ms: int = 0  # no new trip or incident before this (one story at a time)

    @property
    def typical_amount(self) -> float:
        return math.exp(self.log_typical_amount)

    def place_at(self, ms: int) -> Place:
        """Where the cardholder is at an instant (home, or the city of a trip)."""
        trip = self.trip
        if trip is not None and trip.arrive_ms <= ms < trip.leave_ms:
            return trip.place
        return self.home

    def travelling(self, ms: int) -> bool:
        return self.trip is not None and ms < self.trip.home_again_ms

    def in_transit_until(self, ms: int) -> int | None:
        """End of the journey the user is on at `ms` (no purchases in the air), else None."""
        trip = self.trip
        if trip is None:
            return None
        if trip.depart_ms < ms < trip.arrive_ms:
            return trip.arrive_ms
        if trip.leave_ms <= ms < trip.home_again_ms:
            return trip.home_again_ms
        return None


# Faker's city list carries a few names whose apostrophe was mis-decoded (UTF-8 read as
# Mac Roman: "Roslavl‚Äô"); the gateway rightly refuses those characters.
_MOJIBAKE_APOSTROPHES = ("\u201a\u00c4\u00f4", "\u201a\u00c4\u00f2")
_PLACE_PUNCTUATION = frozenset(" .,'()/&#-_")


def clean_place_name(name: str) -> str:
    """A place name with only the characters a gateway location accepts."""
    for garbled in _MOJIBAKE_APOSTROPHES:
        name = name.replace(garbled, "'")
    name = name.replace("\u2019", "'").replace("\u2018", "'")
    return "".join(c for c in name if c.isalnum() or c in _PLACE_PUNCTUATION).strip()


class World:
    """The seeded source of people, merchants and places."""

    def __init__(self, seed: int, config: PopulationConfig) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        # incidents several victims share, per pattern (e.g. a skimmer's window)
        self.episodes: dict[str, list[tuple[int, int, str, tuple[str, ...]]]] = {}
        self._fraud_merchants: tuple[Merchant, ...] | None = None
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.config = config
        self.merchants = tuple(self._merchant(i) for i in range(config.merchant_pool))
        self.online_merchants = tuple(m for m in self.merchants if m.online)
        self.shop_merchants = tuple(m for m in self.merchants if not m.online)
        if not self.online_merchants or not self.shop_merchants:
            raise ValueError("the merchant pool needs both online merchants and shops")

    def _merchant(self, index: int) -> Merchant:
        words = "".join(c if c.isalnum() else "-" for c in self.fake.company().lower())
        slug = "-".join(part for part in words.split("-") if part)[:40]
        online = self.rng.random() < self.config.online_merchant_share
        return Merchant(f"{slug}-{index:04d}", online)

    def fraud_merchants(self) -> tuple[Merchant, ...]:
        """The online shops fraudsters favour (resellable goods): a few percent of them.

        Drawn from their own seeded generator, so worlds without the patterns that use
        them produce exactly the same traffic as before.
        """
        if self._fraud_merchants is None:
            rng = random.Random(f"fraud-favoured-{self.seed}")
            count = max(3, round(len(self.online_merchants) * self.config.fraud_merchant_share))
            chosen = rng.sample(self.online_merchants, min(count, len(self.online_merchants)))
            self._fraud_merchants = tuple(chosen)
        return self._fraud_merchants

    def place(self) -> Place:
        lat, lon, name, country, _zone = self.fake.location_on_land()
        return Place(f"{clean_place_name(name)}, {country}", float(lat), float(lon))

    def place_far_from(self, origin: Place, min_km: float) -> Place:
        """A random city at least `min_km` away (falls back to the farthest of 50 tries)."""
        best = self.place()
        for _ in range(50):
            if distance_km(origin, best) >= min_km:
                return best
            other = self.place()
            if distance_km(origin, other) > distance_km(origin, best):
                best = other
        return best

    def cardholder(self, index: int) -> Cardholder:
        rng, config = self.rng, self.config
        home = self.place()
        count = rng.randint(*config.usual_merchants)
        merchants = tuple(rng.sample(self.merchants, count))
        weights = tuple(1.0 / (rank + 1) for rank in range(count))  # a Zipf-like favourite
        return Cardholder(
            user_id=f"user-{rng.getrandbits(48):012x}",
            name=self.fake.name(),
            card_number=luhn_card_number(rng),
            home=home,
            utc_offset_h=round(home.longitude / 15.0),
            active_hour_local=rng.uniform(*config.active_hour_local),
            active_hour_sd=rng.uniform(*config.active_hour_sd),
            log_typical_amount=math.log(rng.uniform(*config.typical_amount)),
            amount_log_sd=rng.uniform(*config.amount_log_sd),
            per_day=rng.uniform(*config.transactions_per_day),
            merchants=merchants,
            merchant_cum_weights=tuple(accumulate(weights)),
        )


def luhn_card_number(rng: random.Random) -> str:
    """A 16-digit Visa- or Mastercard-like number whose last digit is the Luhn check."""
    prefix = rng.choice(("4", "51", "52", "53", "54", "55"))
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix)))
    return body + str(luhn_check_digit(body))


def distance_km(a: Place, b: Place) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    half = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(half)))
