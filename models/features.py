"""Per-user state and feature extraction: the one implementation training and the job share.

`update_and_extract(state, txn)` is pure: it never mutates `state`, it returns the feature
vector, the new state and whether the transaction id was already seen. Event time is the
transaction's own timestamp, so late records land in the right place:

* time features (gap, counts per window, travel speed) look only at stored records with an
  earlier event time, so no gap is ever negative and a late record is counted in its own
  windows, not in the present ones;
* history features (amount statistics, merchants, hours) are running aggregates: a late
  record is compared with everything seen so far;
* a repeated `transaction_id` is reported as a duplicate and leaves the state unchanged.

Every container in the state has a fixed cap, so the state of a user stays small.

The features (`FEATURE_NAMES` order):

* `log_amount`: ln(1 + amount);
* `amount_log_ratio`: ln(amount / the user's typical amount), 0 without history;
* `amount_zscore`: how many of the user's (robust, shrunk) spreads the amount is *above*
  their typical one (0 when below or without history);
* `log_seconds_since_prev`: ln(1 + seconds since the previous transaction), capped at a day;
  a first transaction gets the cap, so it never looks like a burst;
* `txn_count_1m`, `txn_count_1h`: the user's transactions in (t - 60 s, t] and
  (t - 1 h, t], this one included;
* `merchant_novelty`: 1 for a merchant this user never used (scaled down while the user
  has fewer than 5 transactions), else 0;
* `log_excess_speed_kmh`: ln(1 + the speed above 1,000 km/h implied by the distance from
  the user's last plausible location), 0 when possible or unknown (no coordinates);
* `hour_deviation`: the hour of day, as its distance from the user's usual hour in units
  of their spread (circular statistics; scaled down while history is short).
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from typing import Any, NamedTuple

from models.contracts.transaction import Transaction

FEATURE_SET_VERSION = 1
FEATURE_NAMES: tuple[str, ...] = (
    "log_amount",
    "amount_log_ratio",
    "amount_zscore",
    "log_seconds_since_prev",
    "txn_count_1m",
    "txn_count_1h",
    "merchant_novelty",
    "log_excess_speed_kmh",
    "hour_deviation",
)

GAP_CAP_S = 86_400.0  # "a day or more": also the value for a user's first transaction
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
RETENTION_MS = HOUR_MS + 10 * MINUTE_MS  # the 1 h window plus room for late records
MAX_RECENT = 512  # timestamps kept for the windows (a burst above this is counted as 512)
MAX_MERCHANTS = 64  # least recently used merchants are forgotten first
MAX_PLACES = 4  # last located transactions, to find where travel is measured from
MAX_IDS = 128  # recent transaction ids kept to recognise duplicates
STATS_HORIZON = 1000  # amount statistics become a moving average after this many records
HOUR_HORIZON = 1000  # the hour habit becomes a moving average after this many records
PRIOR_LOG_SD = 0.75  # prior spread of ln(amount) while a user has little history
PRIOR_WEIGHT = 3.0  # how many transactions the prior spread is worth
WINSOR_SPREADS = 3.0  # amounts beyond this many spreads update the history as if at it
NOVELTY_HISTORY = 5  # a new merchant counts fully once the user has this many records
HABIT_HISTORY = 10  # an odd hour counts fully once the user has this many records
PRIOR_HOUR_SD = 3.0  # prior spread (hours) of when a user with little history buys
LOCAL_KM = 100.0  # moves shorter than this are never travel
MIN_TRAVEL_S = 60.0  # floor on the time between places (clock skew, same-minute records)
MAX_PLAUSIBLE_KMH = 1000.0  # an airliner; only speed above this is suspicious
ZSCORE_LIMIT = 12.0
DEVIATION_LIMIT = 8.0
RADIANS_PER_HOUR = 2.0 * math.pi / 24.0
EARTH_RADIUS_KM = 6371.0088


class Evidence(NamedTuple):
    """Raw facts behind the features, for human-readable reasons."""

    history_count: int
    typical_amount: float | None
    merchant_is_new: bool
    hour_utc: int
    travel_km: float
    travel_minutes: float
    speed_kmh: float


class UserState:
    """Everything remembered about one user; plain data, JSON-able via `to_dict`."""

    __slots__ = (
        "count",
        "hour_cos",
        "hour_sin",
        "last_ms",
        "log_m2",
        "log_mean",
        "merchants",
        "places",
        "recent_ids",
        "recent_ms",
    )

    def __init__(self) -> None:
        self.count = 0
        self.log_mean = 0.0
        self.log_m2 = 0.0
        self.last_ms = -1
        self.recent_ms: list[int] = []
        self.merchants: dict[str, tuple[int, int]] = {}  # merchant -> (first, last) ms
        self.hour_cos = 0.0  # sums of the hour's angle on the 24 h clock (circular mean)
        self.hour_sin = 0.0
        # (ms, lat, lon, reached at a plausible speed) by event time
        self.places: list[tuple[int, float, float, bool]] = []
        self.recent_ids: list[str] = []

    def copy(self) -> UserState:
        new = UserState.__new__(UserState)
        new.count = self.count
        new.log_mean = self.log_mean
        new.log_m2 = self.log_m2
        new.last_ms = self.last_ms
        new.recent_ms = self.recent_ms.copy()
        new.merchants = self.merchants.copy()
        new.hour_cos = self.hour_cos
        new.hour_sin = self.hour_sin
        new.places = self.places.copy()
        new.recent_ids = self.recent_ids.copy()
        return new

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (the job keeps this in Flink state)."""
        return {
            "version": FEATURE_SET_VERSION,
            "count": self.count,
            "log_mean": self.log_mean,
            "log_m2": self.log_m2,
            "last_ms": self.last_ms,
            "recent_ms": list(self.recent_ms),
            "merchants": {name: [first, last] for name, (first, last) in self.merchants.items()},
            "hour_cos": self.hour_cos,
            "hour_sin": self.hour_sin,
            "places": [list(place) for place in self.places],
            "recent_ids": list(self.recent_ids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserState:
        """Rebuild from `to_dict`; a dict from another feature version raises ValueError."""
        version = data.get("version")
        if version != FEATURE_SET_VERSION:
            raise ValueError(
                f"user state has feature-set version {version!r} but this code uses "
                f"{FEATURE_SET_VERSION}: start the user from an empty state"
            )
        try:
            state = cls()
            state.count = int(data["count"])
            state.log_mean = float(data["log_mean"])
            state.log_m2 = float(data["log_m2"])
            state.last_ms = int(data["last_ms"])
            state.recent_ms = [int(ms) for ms in data["recent_ms"]]
            state.merchants = {
                str(name): (int(first), int(last))
                for name, (first, last) in data["merchants"].items()
            }
            state.hour_cos = float(data["hour_cos"])
            state.hour_sin = float(data["hour_sin"])
            state.places = [
                (int(ms), float(lat), float(lon), bool(ok)) for ms, lat, lon, ok in data["places"]
            ]
            state.recent_ids = [str(i) for i in data["recent_ids"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"user state is malformed ({error!r}): start from an empty state"
            ) from None
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserState) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"UserState(count={self.count}, last_ms={self.last_ms})"


class FeatureResult(NamedTuple):
    """What `update_and_extract` returns."""

    vector: tuple[float, ...]
    state: UserState
    duplicate: bool
    evidence: Evidence


def update_and_extract(state: UserState | None, txn: Transaction) -> FeatureResult:
    """Features of `txn` given the user's history, and the history including `txn`."""
    if state is None:
        state = UserState()
    duplicate = txn.transaction_id in state.recent_ids
    vector, evidence = _extract(state, txn)
    if duplicate:
        return FeatureResult(vector, state, True, evidence)
    new = state.copy()
    _absorb(new, txn, evidence.speed_kmh <= MAX_PLAUSIBLE_KMH)
    return FeatureResult(vector, new, False, evidence)


def _extract(state: UserState, txn: Transaction) -> tuple[tuple[float, ...], Evidence]:
    amount = txn.amount
    now = txn.event_time_ms
    log_amount = math.log(amount)
    count = state.count

    if count:
        log_ratio = log_amount - state.log_mean
        # Only unusually *high* amounts: tiny ones are visible in the ratio and the amount,
        # and one-sided, the forest's random splits land in the useful range twice as often.
        zscore = max(0.0, min(ZSCORE_LIMIT, log_ratio / _predictive_spread(state)))
        typical: float | None = math.exp(state.log_mean)
    else:
        log_ratio = zscore = 0.0
        typical = None

    recent = state.recent_ms
    upto = bisect_right(recent, now)
    gap_s = min((now - recent[upto - 1]) / 1000.0, GAP_CAP_S) if upto else GAP_CAP_S
    in_minute = upto - bisect_right(recent, now - MINUTE_MS, 0, upto) + 1
    in_hour = upto - bisect_right(recent, now - HOUR_MS, 0, upto) + 1

    seen = state.merchants.get(txn.merchant_id)
    is_new = seen is None or seen[0] > now
    novelty = min(count, NOVELTY_HISTORY) / NOVELTY_HISTORY if is_new else 0.0

    travel_km = travel_minutes = speed = 0.0
    if txn.latitude is not None and txn.longitude is not None and state.places:
        travel_km, travel_minutes, speed = _travel_from_anchor(state.places, now, txn)
    excess = math.log1p(speed - MAX_PLAUSIBLE_KMH) if speed > MAX_PLAUSIBLE_KMH else 0.0

    angle = (now % DAY_MS) / HOUR_MS * RADIANS_PER_HOUR
    deviation = _hour_deviation(state, angle) if count else 0.0

    vector = (
        math.log1p(amount),
        log_ratio,
        zscore,
        math.log1p(gap_s),
        float(in_minute),
        float(in_hour),
        novelty,
        excess,
        deviation,
    )
    hour = int(now // HOUR_MS % 24)
    evidence = Evidence(count, typical, is_new, hour, travel_km, travel_minutes, speed)
    return vector, evidence


def _travel_from_anchor(
    places: list[tuple[int, float, float, bool]], now: int, txn: Transaction
) -> tuple[float, float, float]:
    """Distance, minutes and speed from the last *plausible* place before this one.

    A place reached at an impossible speed never becomes the anchor, so one far-away
    fraudulent record neither makes the cardholder's next purchase at home look impossible
    nor lets a second record in the far city look local.
    """
    anchor = None
    for place in reversed(places):
        if place[0] <= now and (place[3] or anchor is None):
            anchor = place
            if place[3]:
                break
    if anchor is None:  # a late record older than every stored place
        anchor = places[0]
    km = _haversine_km(
        math.radians(txn.latitude or 0.0),
        math.radians(txn.longitude or 0.0),
        math.radians(anchor[1]),
        math.radians(anchor[2]),
    )
    seconds = abs(now - anchor[0]) / 1000.0
    speed = 0.0 if km < LOCAL_KM else km * 3600.0 / max(seconds, MIN_TRAVEL_S)
    return km, seconds / 60.0, speed


def _log_spread(state: UserState) -> float:
    """Standard deviation of ln(amount), shrunk towards a prior while history is short."""
    return math.sqrt(
        (state.log_m2 + PRIOR_WEIGHT * PRIOR_LOG_SD * PRIOR_LOG_SD)
        / (min(state.count, STATS_HORIZON) - 1 + PRIOR_WEIGHT)
    )


def _predictive_spread(state: UserState) -> float:
    """Spread of the *next* ln(amount): adds the uncertainty of a mean from few records."""
    return _log_spread(state) * math.sqrt(1.0 + 1.0 / min(state.count, STATS_HORIZON))


def _hour_deviation(state: UserState, angle: float) -> float:
    """Hours between this purchase and the user's usual hour, in units of their spread.

    Circular statistics on the 24 h clock; the spread is shrunk towards a prior while the
    history is short, so a second purchase at another hour is not an outlier.
    """
    weight = min(state.count, HOUR_HORIZON)
    resultant = math.hypot(state.hour_cos, state.hour_sin) / weight
    spread_rad = math.sqrt(-2.0 * math.log(min(1.0, max(resultant, 1e-9))))
    spread_h = spread_rad / RADIANS_PER_HOUR
    spread = math.sqrt(
        (weight * spread_h * spread_h + PRIOR_WEIGHT * PRIOR_HOUR_SD * PRIOR_HOUR_SD)
        / (weight + PRIOR_WEIGHT)
    )
    usual = math.atan2(state.hour_sin, state.hour_cos)
    apart = abs((angle - usual + math.pi) % (2.0 * math.pi) - math.pi) / RADIANS_PER_HOUR
    confidence = min(state.count, HABIT_HISTORY) / HABIT_HISTORY
    return min(DEVIATION_LIMIT, apart / spread) * confidence


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    half = (
        math.sin((lat2 - lat1) / 2.0) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2.0) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(half)))


def _absorb(state: UserState, txn: Transaction, plausible: bool) -> None:
    """Add `txn` to a (private copy of a) state."""
    now = txn.event_time_ms
    log_amount = math.log(txn.amount)
    if state.count:  # winsorise: one spike or a burst of probes must not blow up the spread
        limit = WINSOR_SPREADS * _log_spread(state)
        log_amount = max(state.log_mean - limit, min(state.log_mean + limit, log_amount))
    state.count += 1
    weight = min(state.count, STATS_HORIZON)
    delta = log_amount - state.log_mean
    state.log_mean += delta / weight
    state.log_m2 += delta * (log_amount - state.log_mean)
    if state.count > STATS_HORIZON:
        state.log_m2 *= (STATS_HORIZON - 1) / STATS_HORIZON

    if now > state.last_ms:
        state.last_ms = now
    recent = state.recent_ms
    insort(recent, now)
    cutoff = bisect_right(recent, state.last_ms - RETENTION_MS)
    drop = max(cutoff, len(recent) - MAX_RECENT)
    if drop:
        del recent[:drop]

    merchants = state.merchants
    seen = merchants.get(txn.merchant_id)
    if seen is None:
        if len(merchants) >= MAX_MERCHANTS:
            del merchants[min(merchants, key=lambda name: merchants[name][1])]
        merchants[txn.merchant_id] = (now, now)
    else:
        merchants[txn.merchant_id] = (min(seen[0], now), max(seen[1], now))

    angle = (now % DAY_MS) / HOUR_MS * RADIANS_PER_HOUR
    keep = (HOUR_HORIZON - 1) / HOUR_HORIZON if state.count > HOUR_HORIZON else 1.0
    state.hour_cos = state.hour_cos * keep + math.cos(angle)
    state.hour_sin = state.hour_sin * keep + math.sin(angle)

    if txn.latitude is not None and txn.longitude is not None:
        insort(state.places, (now, txn.latitude, txn.longitude, plausible))
        if len(state.places) > MAX_PLACES:
            del state.places[0]

    state.recent_ids.append(txn.transaction_id)
    if len(state.recent_ids) > MAX_IDS:
        del state.recent_ids[0]
