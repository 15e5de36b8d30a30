"""Fraud patterns the generator injects; each one is a config dataclass with a planner.

A planner gets the victim and the time of one of their genuine transactions (the trigger)
and returns the fraudulent transactions as `Draft`s; the generator gives them ids and
bodies. All numbers that shape a pattern are fields, so a run can change them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import ClassVar, NamedTuple, Protocol

from models.population import Cardholder, Merchant, Place, World

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
ONLINE = "Online"


class Draft(NamedTuple):
    """One transaction to emit (the generator adds the id, user and card)."""

    time_ms: int
    amount: float
    merchant_id: str
    location: str
    latitude: float | None = None
    longitude: float | None = None
    genuine: bool = False  # part of a story but not fraud (e.g. the visit that gets skimmed)


class Pattern(Protocol):
    """What the generator needs from a pattern config."""

    name: ClassVar[str]

    @property
    def weight(self) -> float: ...

    @property
    def min_history(self) -> int: ...

    @property
    def mean_transactions(self) -> float: ...

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]: ...


def _validate(config: object) -> None:
    """Every number of a pattern config is >= 0 and every (low, high) range is ordered."""
    for item in fields(config):  # type: ignore[arg-type]
        value = getattr(config, item.name)
        where = f"{type(config).__name__}.{item.name}"
        if isinstance(value, tuple):
            low, high = value
            if low < 0 or low > high:
                raise ValueError(f"{where} = {value}: use two numbers >= 0 with low <= high")
            if item.name in ("transactions", "merchants") and low < 1:
                raise ValueError(f"{where} = {value}: an incident needs at least 1")
        elif isinstance(value, int | float) and value < 0:
            raise ValueError(f"{where} = {value}: must be 0 or more")


def _money(value: float) -> float:
    return max(0.01, round(value, 2))


@dataclass(frozen=True)
class AmountSpike:
    """One purchase at a usual merchant soon after a genuine one, many times the usual amount."""

    name: ClassVar[str] = "amount_spike"
    weight: float = 1.0
    multiplier: tuple[float, float] = (10.0, 100.0)
    delay_minutes: tuple[float, float] = (10.0, 360.0)
    min_history: int = 5

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def mean_transactions(self) -> float:
        return 1.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        rng = world.rng
        when = trigger_ms + int(rng.uniform(*self.delay_minutes) * MINUTE_MS)
        merchant = rng.choices(user.merchants, cum_weights=user.merchant_cum_weights)[0]
        amount = _money(user.typical_amount * rng.uniform(*self.multiplier))
        if merchant.online:
            return [Draft(when, amount, merchant.merchant_id, ONLINE)]
        lat, lon = jitter(rng, user.home)
        return [Draft(when, amount, merchant.merchant_id, user.home.name, lat, lon)]


@dataclass(frozen=True)
class CardTesting:
    """A burst of tiny online charges seconds apart, probing whether the card works."""

    name: ClassVar[str] = "card_testing"
    weight: float = 0.3  # relative share of incidents; each is a burst
    transactions: tuple[int, int] = (8, 20)
    amount: tuple[float, float] = (0.5, 3.0)
    gap_seconds: tuple[float, float] = (2.0, 20.0)
    merchants: tuple[int, int] = (1, 3)
    delay_minutes: tuple[float, float] = (1.0, 720.0)
    min_history: int = 3

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def mean_transactions(self) -> float:
        return (self.transactions[0] + self.transactions[1]) / 2.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        rng = world.rng
        when = trigger_ms + int(rng.uniform(*self.delay_minutes) * MINUTE_MS)
        shops = rng.sample(world.online_merchants, rng.randint(*self.merchants))
        drafts = []
        for _ in range(rng.randint(*self.transactions)):
            shop = rng.choice(shops)
            drafts.append(Draft(when, _money(rng.uniform(*self.amount)), shop.merchant_id, ONLINE))
            when += int(rng.uniform(*self.gap_seconds) * 1000)
        return drafts


@dataclass(frozen=True)
class ImpossibleTravel:
    """Card-present purchases in a far city minutes after one at home."""

    name: ClassVar[str] = "impossible_travel"
    weight: float = 1.0
    min_distance_km: float = 3000.0
    delay_minutes: tuple[float, float] = (5.0, 60.0)
    transactions: tuple[int, int] = (1, 2)
    gap_minutes: tuple[float, float] = (2.0, 20.0)
    amount_multiplier: tuple[float, float] = (1.0, 4.0)
    min_history: int = 3

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def mean_transactions(self) -> float:
        return (self.transactions[0] + self.transactions[1]) / 2.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        if not trigger_located:  # "impossible" needs a recent place to travel from
            return []
        rng = world.rng
        city = world.place_far_from(user.home, self.min_distance_km)
        when = trigger_ms + int(rng.uniform(*self.delay_minutes) * MINUTE_MS)
        drafts = []
        for _ in range(rng.randint(*self.transactions)):
            shop = rng.choice(world.shop_merchants)
            amount = _money(user.typical_amount * rng.uniform(*self.amount_multiplier))
            lat, lon = jitter(rng, city)
            drafts.append(Draft(when, amount, shop.merchant_id, city.name, lat, lon))
            when += int(rng.uniform(*self.gap_minutes) * MINUTE_MS)
        return drafts


@dataclass(frozen=True)
class AccountTakeover:
    """Someone else in the account: new online merchants, at an odd hour, for a lot."""

    name: ClassVar[str] = "account_takeover"
    weight: float = 1.0
    amount_multiplier: tuple[float, float] = (5.0, 20.0)
    min_hours_from_habit: float = 8.0
    min_spreads_from_habit: float = 3.0  # and this many of the user's own hour spreads
    transactions: tuple[int, int] = (1, 3)
    gap_minutes: tuple[float, float] = (2.0, 15.0)
    min_history: int = 10

    def __post_init__(self) -> None:
        _validate(self)
        if not 0.0 <= self.min_hours_from_habit <= 12.0 or self.min_spreads_from_habit < 0:
            raise ValueError("min_hours_from_habit must be in [0, 12], min_spreads_from_habit >= 0")

    @property
    def mean_transactions(self) -> float:
        return (self.transactions[0] + self.transactions[1]) / 2.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        rng = world.rng
        away = max(self.min_hours_from_habit, self.min_spreads_from_habit * user.active_hour_sd)
        slack = max(0.0, 12.0 - away)
        local_hour = (user.active_hour_local + 12.0 + rng.uniform(-slack, slack)) % 24.0
        when = at_local_hour(user, trigger_ms + 30 * MINUTE_MS, local_hour)
        known = {m.merchant_id for m in user.merchants}
        fresh = [m for m in world.online_merchants if m.merchant_id not in known]
        count = rng.randint(*self.transactions)
        drafts = []
        for shop in rng.sample(fresh, min(count, len(fresh))):
            amount = _money(user.typical_amount * rng.uniform(*self.amount_multiplier))
            drafts.append(Draft(when, amount, shop.merchant_id, ONLINE))
            when += int(rng.uniform(*self.gap_minutes) * MINUTE_MS)
        return drafts


@dataclass(frozen=True)
class Skimming:
    """A compromised card-present merchant: cards used there while the skimmer is in place
    are cloned and, days later, spent elsewhere by the ring at its few cash-out merchants.

    The victim's visit to the skimmer is genuine (emitted unlabelled); one compromise window
    is shared by every victim drawn while it lasts, and so are its cash-out merchants.
    """

    name: ClassVar[str] = "skimming"
    weight: float = 0.5
    window_days: tuple[float, float] = (3.0, 10.0)
    dormant_days: tuple[float, float] = (1.0, 6.0)
    transactions: tuple[int, int] = (2, 6)
    spread_days: tuple[float, float] = (0.5, 4.0)
    amount_multiplier: tuple[float, float] = (1.0, 4.0)
    cash_out_merchants: tuple[int, int] = (2, 4)
    min_history: int = 3

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def mean_transactions(self) -> float:
        return (self.transactions[0] + self.transactions[1]) / 2.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        rng = world.rng
        visit_ms = trigger_ms + int(rng.uniform(1.0, 20.0) * HOUR_MS)
        episode = _active_episode(world, self.name, visit_ms)
        if episode is None:
            shop = rng.choice(world.shop_merchants)
            ring = rng.sample(world.fraud_merchants(), rng.randint(*self.cash_out_merchants))
            end = visit_ms + int(rng.uniform(*self.window_days) * DAY_MS)
            episode = (visit_ms, end, shop.merchant_id, tuple(m.merchant_id for m in ring))
            world.episodes.setdefault(self.name, []).append(episode)
        _start, _end, skimmer, ring_ids = episode
        lat, lon = jitter(rng, user.home)
        amount = _money(user.typical_amount * rng.uniform(0.5, 1.5))
        drafts = [Draft(visit_ms, amount, skimmer, user.home.name, lat, lon, genuine=True)]
        when = visit_ms + int(rng.uniform(*self.dormant_days) * DAY_MS)
        count = rng.randint(*self.transactions)
        step = rng.uniform(*self.spread_days) * DAY_MS / max(1, count - 1)
        for _ in range(count):
            amount = _money(user.typical_amount * rng.uniform(*self.amount_multiplier))
            drafts.append(Draft(when, amount, rng.choice(ring_ids), ONLINE))
            when += int(step * rng.uniform(0.5, 1.5)) + MINUTE_MS
        return drafts


@dataclass(frozen=True)
class CardNotPresent:
    """Stolen card details used online for only 2-5x the usual amount, at a new shop.

    Fraudsters favour a few kinds of shop (resellable goods): most charges go to the
    world's fraud-favoured online merchants, where genuine customers buy too.
    """

    name: ClassVar[str] = "card_not_present"
    weight: float = 1.0
    amount_multiplier: tuple[float, float] = (2.0, 5.0)
    delay_minutes: tuple[float, float] = (30.0, 1440.0)
    transactions: tuple[int, int] = (1, 3)
    gap_minutes: tuple[float, float] = (5.0, 120.0)
    favoured_share: float = 0.7
    min_history: int = 5

    def __post_init__(self) -> None:
        _validate(self)
        if self.favoured_share > 1.0:
            raise ValueError("CardNotPresent.favoured_share must be a share between 0 and 1")

    @property
    def mean_transactions(self) -> float:
        return (self.transactions[0] + self.transactions[1]) / 2.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        rng = world.rng
        when = trigger_ms + int(rng.uniform(*self.delay_minutes) * MINUTE_MS)
        drafts = []
        for _ in range(rng.randint(*self.transactions)):
            shop = rng.choice(_online_pool(world, self.favoured_share))
            amount = _money(user.typical_amount * rng.uniform(*self.amount_multiplier))
            drafts.append(Draft(when, amount, shop.merchant_id, ONLINE))
            when += int(rng.uniform(*self.gap_minutes) * MINUTE_MS)
        return drafts


@dataclass(frozen=True)
class SlowBurn:
    """A quietly compromised card: a few modest charges spread over one to two weeks."""

    name: ClassVar[str] = "slow_burn"
    weight: float = 0.3
    transactions: tuple[int, int] = (4, 10)
    spread_days: tuple[float, float] = (5.0, 14.0)
    amount_multiplier: tuple[float, float] = (1.2, 3.0)
    favoured_share: float = 0.5
    min_history: int = 5

    def __post_init__(self) -> None:
        _validate(self)
        if self.favoured_share > 1.0:
            raise ValueError("SlowBurn.favoured_share must be a share between 0 and 1")

    @property
    def mean_transactions(self) -> float:
        return (self.transactions[0] + self.transactions[1]) / 2.0

    def plan(
        self, world: World, user: Cardholder, trigger_ms: int, trigger_located: bool
    ) -> list[Draft]:
        rng = world.rng
        span = rng.uniform(*self.spread_days) * DAY_MS
        times = sorted(
            trigger_ms + int(rng.uniform(0.02, 1.0) * span)
            for _ in range(rng.randint(*self.transactions))
        )
        drafts = []
        for when in times:
            pool = _online_pool(world, self.favoured_share)
            amount = _money(user.typical_amount * rng.uniform(*self.amount_multiplier))
            drafts.append(Draft(when, amount, rng.choice(pool).merchant_id, ONLINE))
        return drafts


def _online_pool(world: World, favoured_share: float) -> tuple[Merchant, ...]:
    """Where a card-not-present charge goes: mostly the fraud-favoured shops (one draw)."""
    if world.rng.random() < favoured_share:
        return world.fraud_merchants()
    return world.online_merchants


def _active_episode(
    world: World, name: str, at_ms: int
) -> tuple[int, int, str, tuple[str, ...]] | None:
    """The latest shared incident of this pattern still running at `at_ms`, if any."""
    episodes = world.episodes.get(name, [])
    while episodes and episodes[0][1] <= at_ms:  # finished windows are not needed again
        episodes.pop(0)
    return episodes[-1] if episodes and episodes[-1][0] <= at_ms else None


CLASSIC_PATTERNS: tuple[Pattern, ...] = (
    AmountSpike(),
    CardTesting(),
    ImpossibleTravel(),
    AccountTakeover(),
)
# Hard for an anomaly detector alone: modest amounts at ordinary hours; they are found
# through what labels teach (merchants and cards with confirmed fraud).
HARD_PATTERNS: tuple[Pattern, ...] = (Skimming(), CardNotPresent(), SlowBurn())
DEFAULT_PATTERNS: tuple[Pattern, ...] = CLASSIC_PATTERNS + HARD_PATTERNS
PATTERN_NAMES: tuple[str, ...] = tuple(p.name for p in DEFAULT_PATTERNS)
CLASSIC_PATTERN_NAMES: tuple[str, ...] = tuple(p.name for p in CLASSIC_PATTERNS)


def at_local_hour(user: Cardholder, after_ms: int, local_hour: float) -> int:
    """The first instant after `after_ms` when the user's local clock shows `local_hour`."""
    offset = user.utc_offset_h * HOUR_MS
    day_start = (after_ms + offset) // DAY_MS * DAY_MS - offset
    when = day_start + int(local_hour * HOUR_MS)
    while when <= after_ms:
        when += DAY_MS
    return when


def jitter(rng: random.Random, place: Place, km: float = 15.0) -> tuple[float, float]:
    """A point within about `km` of a place, rounded like a card terminal would report."""
    dlat = rng.uniform(-km, km) / 111.0
    dlon = rng.uniform(-km, km) / (111.0 * max(0.2, math.cos(math.radians(place.latitude))))
    lat = max(-90.0, min(90.0, place.latitude + dlat))
    lon = (place.longitude + dlon + 180.0) % 360.0 - 180.0
    return round(lat, 5), round(lon, 5)
