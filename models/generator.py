"""Labelled Faker traffic: a finite dataset for training, an endless stream for the simulator.

Both come from the same engine, a time-ordered queue of per-user events: each user draws
a Poisson number of purchases per local day at habitual hours; now and then a genuine
purchase starts a trip or triggers a fraud incident planned by one of the patterns. The
stream is in event-time order, deterministic for a seed, and the ground-truth label is
returned beside the gateway body, never inside it.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from models.contracts.card import CardMasker
from models.contracts.transaction import Transaction, encode_body
from models.patterns import DAY_MS, DEFAULT_PATTERNS, HOUR_MS, ONLINE, Draft, Pattern, jitter
from models.population import Cardholder, PopulationConfig, Trip, World, distance_km

DEFAULT_START = datetime(2025, 7, 1, tzinfo=UTC)
TRAINING_CARD_KEY = b"fraudctl-training-only"  # offline stand-in for the gateway's key
LabelledBody = tuple[dict[str, Any], str | None]

_DAY, _GENUINE, _PLANNED = 0, 1, 2


class TrafficGenerator:
    """An endless, seeded stream of `(gateway body, label or None)` in event-time order.

    `fraud_ratio` is the expected share of fraudulent transactions (a card-testing burst
    counts once per charge); victims need `pattern.min_history` earlier purchases.
    """

    def __init__(
        self,
        seed: int,
        n_users: int = 1000,
        fraud_ratio: float = 0.02,
        patterns: Sequence[Pattern] = DEFAULT_PATTERNS,
        population: PopulationConfig | None = None,
        start: datetime = DEFAULT_START,
    ) -> None:
        if n_users < 1:
            raise ValueError(f"n_users must be at least 1, got {n_users}")
        if not 0.0 <= fraud_ratio < 1.0:
            raise ValueError(f"fraud_ratio must be in [0, 1), got {fraud_ratio}")
        if start.tzinfo is None:
            raise ValueError("start must be a time-zone-aware datetime (e.g. with tzinfo=UTC)")
        self.patterns = tuple(patterns)
        weights = [p.weight for p in self.patterns]
        if fraud_ratio > 0 and (not self.patterns or sum(weights) <= 0):
            raise ValueError("fraud_ratio > 0 needs at least one pattern with a positive weight")
        self._weights = weights
        self._incident_prob = _incident_probability(fraud_ratio, self.patterns)
        self._world = World(seed, population or PopulationConfig())
        self._rng = self._world.rng
        self.users = tuple(self._world.cardholder(i) for i in range(n_users))
        self.start_ms = int(start.timestamp() * 1000)
        self.now_ms = self.start_ms
        self._queue: list[tuple[int, int, int, int, Draft | None, str | None]] = []
        self._owed: deque[Pattern] = deque()  # incidents drawn but not yet placed
        self._seq = 0
        for index, user in enumerate(self.users):
            offset = user.utc_offset_h * HOUR_MS
            midnight = (self.start_ms + offset) // DAY_MS * DAY_MS - offset
            self._push(midnight, _DAY, index)

    def __iter__(self) -> Iterator[LabelledBody]:
        return self

    def __next__(self) -> LabelledBody:
        while True:
            when, _seq, kind, index, draft, label = heapq.heappop(self._queue)
            self.now_ms = max(self.now_ms, when)
            user = self.users[index]
            if kind == _DAY:
                self._plan_day(index, when)
                continue
            if kind == _GENUINE:
                resume = user.in_transit_until(when)
                if resume is not None:  # nobody pays mid-flight: after landing instead
                    self._push(resume + int(self._rng.uniform(0.5, 3.0) * HOUR_MS), kind, index)
                    continue
                draft = self._genuine(user, when)
            assert draft is not None
            body = self._body(user, draft)
            user.history += 1
            if kind == _GENUINE:
                self._after_genuine(index, draft)
            return body, label

    def next_batch(self, n: int) -> list[LabelledBody]:
        """The next `n` transactions (any batch size, any pace: time is simulated)."""
        return [next(self) for _ in range(n)]

    @property
    def now(self) -> datetime:
        """Simulated event time of the last transaction handed out."""
        return datetime.fromtimestamp(self.now_ms / 1000, UTC)

    def _push(
        self,
        when: int,
        kind: int,
        index: int,
        draft: Draft | None = None,
        label: str | None = None,
    ) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, kind, index, draft, label))

    def _plan_day(self, index: int, midnight: int) -> None:
        user, rng = self.users[index], self._rng
        hours = sorted(
            rng.gauss(user.active_hour_local, user.active_hour_sd) % 24.0
            for _ in range(_poisson(rng.random, user.per_day))
        )
        spacing = int(self._world.config.min_minutes_apart * 60_000)
        previous = -spacing
        for hour in hours:  # one person's unrelated purchases are minutes apart
            when = max(midnight + int(hour * HOUR_MS), previous + spacing)
            previous = when
            if when > self.now_ms:
                self._push(when, _GENUINE, index)
        self._push(midnight + DAY_MS, _DAY, index)

    def _genuine(self, user: Cardholder, when: int) -> Draft:
        rng, config, world = self._rng, self._world.config, self._world
        if user.trip is not None and when >= user.trip.home_again_ms:
            user.trip = None
        if rng.random() < config.new_merchant_prob:
            merchant = rng.choice(world.merchants)
        else:
            merchant = rng.choices(user.merchants, cum_weights=user.merchant_cum_weights)[0]
        place = user.place_at(when)
        if place is not user.home and not merchant.online:
            merchant = rng.choice(world.shop_merchants)  # a local shop on the trip
        amount = math.exp(rng.gauss(user.log_typical_amount, user.amount_log_sd))
        if rng.random() < config.big_purchase_prob:
            amount *= rng.uniform(*config.big_purchase_multiplier)
        amount = max(0.01, round(amount, 2))
        if merchant.online:
            return Draft(when, amount, merchant.merchant_id, ONLINE)
        lat, lon = jitter(rng, place)
        return Draft(when, amount, merchant.merchant_id, place.name, lat, lon)

    def _after_genuine(self, index: int, draft: Draft) -> None:
        """A genuine purchase may be repeated, start a trip, or be followed by fraud."""
        user, rng, config = self.users[index], self._rng, self._world.config
        when = draft.time_ms
        if rng.random() < config.quick_repeat_prob:
            amount = max(0.01, round(math.exp(rng.gauss(user.log_typical_amount, 0.3)), 2))
            repeat = draft._replace(time_ms=when + int(rng.uniform(10, 120) * 1000), amount=amount)
            self._push(repeat.time_ms, _PLANNED, index, repeat)
        if rng.random() < self._incident_prob:
            self._owed.append(rng.choices(self.patterns, self._weights)[0])
        if user.travelling(when) or when < user.quiet_until_ms:
            return
        if self._owed and user.history >= self._owed[0].min_history:
            # Owed incidents go to the next suitable victim, so the fraud share holds even
            # though young users, travellers and online-only triggers cannot host every pattern.
            pattern = self._owed[0]
            drafts = pattern.plan(self._world, user, when, draft.latitude is not None)
            for fraud in drafts:
                at = max(fraud.time_ms, when + 1)
                label = None if fraud.genuine else pattern.name
                self._push(at, _PLANNED, index, fraud._replace(time_ms=at), label)
            if drafts:
                self._owed.popleft()
                user.quiet_until_ms = max(d.time_ms for d in drafts) + HOUR_MS
                return
        if rng.random() < config.trip_prob:
            self._start_trip(user, when)

    def _start_trip(self, user: Cardholder, when: int) -> None:
        rng, config = self._rng, self._world.config
        place = self._world.place_far_from(user.home, 300.0)
        journey = int(
            (distance_km(user.home, place) / config.travel_kmh + rng.uniform(1, 3)) * HOUR_MS
        )
        arrive = when + journey
        leave = arrive + int(rng.uniform(*config.trip_days) * DAY_MS)
        user.trip = Trip(place, when, arrive, leave, leave + journey)
        user.quiet_until_ms = leave + journey

    def _body(self, user: Cardholder, draft: Draft) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(draft.time_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: dict[str, Any] = {
            "transaction_id": f"txn_{self._rng.getrandbits(64):016x}",
            "user_id": user.user_id,
            "card_number": user.card_number,
            "amount": draft.amount,
            "currency": "USD",
            "timestamp": stamp,
            "merchant_id": draft.merchant_id,
            "location": draft.location,
        }
        if draft.latitude is not None:
            body["latitude"] = draft.latitude
            body["longitude"] = draft.longitude
        return body


@dataclass(frozen=True)
class LabelledTransaction:
    """A normalised transaction and its ground truth (a pattern name, or None if genuine)."""

    transaction: Transaction
    label: str | None


@dataclass(frozen=True)
class Dataset:
    seed: int
    n_users: int
    days: float
    fraud_ratio: float
    records: tuple[LabelledTransaction, ...]
    start_ms: int = int(DEFAULT_START.timestamp() * 1000)

    @property
    def fraud_count(self) -> int:
        return sum(1 for r in self.records if r.label is not None)


def generate_dataset(
    seed: int,
    n_users: int = 2000,
    days: float = 14.0,
    fraud_ratio: float = 0.02,
    patterns: Sequence[Pattern] = DEFAULT_PATTERNS,
    population: PopulationConfig | None = None,
    start: datetime = DEFAULT_START,
) -> Dataset:
    """`days` of traffic from `n_users`, normalised as the gateway would, in event-time order."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    stream = TrafficGenerator(seed, n_users, fraud_ratio, patterns, population, start)
    end_ms = stream.start_ms + int(days * DAY_MS)
    records = []
    for body, label in stream:
        if stream.now_ms >= end_ms:
            break
        records.append(LabelledTransaction(normalise_body(body), label))
    return Dataset(seed, n_users, days, fraud_ratio, tuple(records), stream.start_ms)


def normalise_body(body: dict[str, Any], card_key: bytes = TRAINING_CARD_KEY) -> Transaction:
    """What the gateway does to a body, for offline use: the card becomes last4 + a keyed hash."""
    return encode_body(body, _masker(card_key))


def card_fingerprint(digits: str, card_key: bytes = TRAINING_CARD_KEY) -> str:
    """The keyed hash `normalise_body` would give these digits (same `CardMasker`)."""
    return _masker(card_key).fingerprint(digits)


@lru_cache(maxsize=8)
def _masker(card_key: bytes) -> CardMasker:
    return CardMasker(card_key)


def _incident_probability(fraud_ratio: float, patterns: Sequence[Pattern]) -> float:
    """Chance per genuine purchase of an incident so frauds make up ~`fraud_ratio`."""
    total = sum(p.weight for p in patterns)
    if fraud_ratio <= 0 or total <= 0:
        return 0.0
    size = sum(p.weight * p.mean_transactions for p in patterns) / total
    return fraud_ratio / (size * (1.0 - fraud_ratio) + fraud_ratio)


def _poisson(uniform: Any, mean: float) -> int:
    """Knuth's method: fine for the small daily means used here."""
    limit, count, product = math.exp(-mean), 0, uniform()
    while product > limit:
        count += 1
        product *= uniform()
    return count
