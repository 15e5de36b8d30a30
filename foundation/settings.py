"""The one settings object of fraudctl.

Every port, path and name is read here once, from defaults, `FRAUDCTL_…` environment
variables (nested with `__`, e.g. `FRAUDCTL_KAFKA__PORT=19092`) and CLI flags that the CLI
passes as overrides. Nothing else in the code reads the environment for configuration.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.secrets import SPECS, load_secrets

LOOPBACK = "127.0.0.1"
JOB_NAME = "Stateful Fraud Detection with Redis Alerts"
REPO_ROOT = Path(__file__).resolve().parent.parent

Port = int


class Section(BaseModel):
    """One section of the settings: an unknown key (a typo in `FRAUDCTL_JOB__PARALELISM`,
    a removed setting) is an error that names it, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is out of range: use a number from 1 to 65535")
    return value


class KafkaSettings(Section):
    """The local KRaft broker and the topics of the pipeline."""

    host: str = LOOPBACK
    port: Port = 9092
    controller_port: Port = 9093
    transactions_topic: str = "transactions"
    dlq_topic: str = "transactions-dlq"
    scores_topic: str = "transaction-scores"
    labels_topic: str = "transaction-labels"
    rules_topic: str = "fraud-rules"
    partitions: int = Field(default=2, ge=1, le=64)
    labels_retention_ms: int = Field(default=90 * 24 * 3600 * 1000, ge=3_600_000)
    heap: str = "512m"
    # Client security for a cluster deployment; PLAINTEXT suits the loopback-only local broker.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_ca_location: Path | None = None  # PEM file of the CA that signed the brokers' certs

    _port = field_validator("port", "controller_port")(_check_port)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class RedisSettings(Section):
    """Redis: the alert stream and the labels hash."""

    host: str = LOOPBACK
    port: Port = 6379
    alerts_stream: str = "fraud:alerts"
    labels_key: str = "fraud:labels"
    stream_maxlen: int = Field(default=100_000, ge=100)
    # Replayed alerts are dropped while their marker lives: it must outlive the oldest
    # checkpoint the job can restore from (checked against the job settings below).
    alert_dedupe_ttl_s: int = Field(default=90_000, ge=60)
    server_binary: str = "redis-server"
    password: SecretStr = SecretStr("")  # generated into the state dir's secrets.json
    username: str = ""  # an ACL user; empty: the default user with `requirepass`
    tls: bool = False
    tls_ca: Path | None = None
    # Bounded memory. noeviction: a full Redis refuses writes (the alert writer retries and
    # the job backpressures) instead of silently dropping alerts or dedupe markers.
    maxmemory: str = Field(default="512mb", pattern=r"^[0-9]+(b|kb|mb|gb)?$")
    maxmemory_policy: Literal["noeviction", "volatile-lru", "volatile-ttl"] = "noeviction"

    _port = field_validator("port")(_check_port)

    @property
    def url(self) -> str:
        """Where Redis listens (never with the password in it)."""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/0"


class FlinkSettings(Section):
    """The standalone Flink session cluster from the PyFlink distribution."""

    host: str = LOOPBACK
    rest_port: Port = 8081
    rpc_port: Port = 6123
    taskmanager_rpc_port: Port = 6124
    blob_port: Port = 6130
    taskmanager_data_port: Port = 6131
    slots: int = Field(default=4, ge=1, le=32)  # the job takes 2; room for a second
    # TaskManagers started by `fraudctl up` (each a JVM with its own embedded Python).
    taskmanagers: int = Field(default=1, ge=1, le=8)
    jobmanager_memory: str = "1024m"
    taskmanager_memory: str = "1728m"
    job_name: str = JOB_NAME
    # The niceness the local stack starts the Flink JVMs with (0: as everything else). On a
    # small shared host the gateway and the broker, on the payment's synchronous path, then
    # get a core first when the JVMs are busy (compiling, in a job's first minute): gateway
    # p99 at 200 req/s with the job running fell from 48 to 16 ms at 10 (BENCHMARKS.md).
    # Opt-in: see docs/operator-guide.md for why it is not the default yet.
    nice: int = Field(default=0, ge=0, le=19)

    _port = field_validator(
        "rest_port", "rpc_port", "taskmanager_rpc_port", "blob_port", "taskmanager_data_port"
    )(_check_port)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"


# How long fraudctl's own gateway clients keep an idle connection for reuse: shorter than
# uvicorn's default keep-alive (5 s), so even a gateway left at that default never closes
# a connection that a client is about to send on.
GATEWAY_CLIENT_IDLE_S = 4.0


class GatewaySettings(Section):
    """The payment gateway (FastAPI)."""

    host: str = LOOPBACK
    port: Port = 8000
    app: str = "gateway.api.app:create_app"
    workers: int = Field(default=1, ge=1, le=64)
    card_secret: SecretStr = SecretStr("")  # generated into the state dir's secrets.json
    api_key: SecretStr = SecretStr("")  # generated; enforced when require_auth is on
    # Off by default so loopback curl examples work; binding a non-loopback host needs it.
    require_auth: bool = False
    # Browser origins allowed to call the gateway; a request from any other page is refused.
    allowed_origins: list[str] = Field(default_factory=list)
    max_future_skew_s: int = Field(default=300, ge=0, le=86_400)
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    produce_timeout_s: float = Field(default=5.0, gt=0)
    health_timeout_s: float = Field(default=1.0, gt=0, le=30)
    linger_ms: int = Field(default=5, ge=0, le=1000)
    max_amount: float = Field(default=1_000_000.0, gt=0)
    # How long an idle keep-alive connection stays open. Clients must give up idle
    # connections sooner (see GATEWAY_CLIENT_IDLE_S): a request written just as the server
    # closes its connection is lost in flight.
    keep_alive_s: int = Field(default=75, gt=GATEWAY_CLIENT_IDLE_S, le=3600)

    _port = field_validator("port")(_check_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class DashboardSettings(Section):
    """The web dashboard (FastAPI + WebSocket)."""

    host: str = LOOPBACK
    port: Port = 8080
    app: str = "gateway.dashboard.app:app"
    history: int = Field(default=50, ge=0, le=10_000)
    token: SecretStr = SecretStr("")  # generated; enforced when require_auth is on
    require_auth: bool = False
    # Origins (scheme://host:port) the page is served under besides this host and port, e.g.
    # behind a proxy; WebSockets and Host headers from anywhere else are refused.
    public_origins: list[str] = Field(default_factory=list)
    max_connections: int = Field(default=64, ge=1, le=10_000)

    _port = field_validator("port")(_check_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class JobSettings(Section):
    """The PyFlink scoring job."""

    parallelism: int = Field(default=1, ge=1, le=64)
    checkpoint_interval_ms: int = Field(default=5_000, ge=100)
    out_of_orderness_ms: int = Field(default=5_000, ge=0)
    state_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    execution_mode: str = "thread"
    retained_checkpoints: int = Field(default=2, ge=1, le=100)
    checkpoint_timeout_s: int = Field(default=600, ge=10)
    # Checkpoint failures in a row before the job fails (and restarts, visibly): a full disk
    # must not hide behind an endless run of failed checkpoints.
    tolerable_failed_checkpoints: int = Field(default=10, ge=0, le=1000)
    # The oldest retained checkpoint the job may be resumed from; alert dedupe markers must
    # live at least this long (plus the checkpoints' own span), or a resume re-alerts.
    max_restore_age_s: int = Field(default=86_400, ge=0)
    # How long the job's Kafka writers (decision log, DLQ) wait to fill a batch. Each batch
    # costs an lz4 stream in the scorer's thread and a produce request at the broker: 10 ms
    # took ~14 % off the host's CPU per transaction at full load against 2 ms (BENCHMARKS.md,
    # "Where the CPU goes"); a decision reaches the log up to this much later. Alerts do
    # not pass through these writers.
    log_linger_ms: int = Field(default=10, ge=0, le=1000)
    # Synthetic transactions `fraudctl up` sends through the job it has just submitted, and
    # waits for, before it returns (fraudctl/warmup.py): the JVMs compile the job's paths on
    # them instead of on the first minute of real traffic. 0 turns the warm-up off.
    warmup_transactions: int = Field(default=15_000, ge=0, le=1_000_000)
    # How long `up` waits for the warm-up to be through the job before it returns anyway.
    warmup_timeout_s: float = Field(default=120.0, gt=0, le=3600)

    @property
    def oldest_restore_s(self) -> int:
        """How old the checkpoint a restore starts from can be, at most."""
        span = math.ceil(self.checkpoint_interval_ms * self.retained_checkpoints / 1000)
        return span + self.checkpoint_timeout_s + self.max_restore_age_s

    @field_validator("execution_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("thread", "process"):
            raise ValueError(f"execution_mode {value!r} is not known: use 'thread' or 'process'")
        return value


class SimulateSettings(Section):
    """Defaults of `fraudctl simulate` and `fraudctl demo` (each also a flag)."""

    rate: float = Field(default=200.0, gt=0, le=100_000)
    users: int = Field(default=1000, ge=1, le=1_000_000)
    fraud_ratio: float = Field(default=0.01, ge=0, lt=1)
    batch_size: int = Field(default=1, ge=1, le=100_000)
    connections: int = Field(default=32, ge=1, le=1024)
    max_in_flight: int = Field(default=1024, ge=1, le=100_000)
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)
    backoff_max_s: float = Field(default=10.0, gt=0, le=300)
    drain_timeout_s: float = Field(default=15.0, ge=0, le=600)
    demo_rate: float = Field(default=50.0, gt=0, le=100_000)
    demo_alert_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Ground truth is posted to POST /labels this long after a transaction was accepted
    # (a chargeback comes later than the payment); 0 posts labels at once.
    label_delay_s: float = Field(default=30.0, ge=0, le=86_400)
    label_batch: int = Field(default=500, ge=1, le=100_000)


class ModelSettings(Section):
    """Where the trained model lives."""

    artifacts_dir: Path = REPO_ROOT / "models" / "artifacts"


class ComposeSettings(Section):
    """`fraudctl up --docker`: the Docker Compose project in compose/."""

    project: str = Field(default="fraudctl", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    file: Path = REPO_ROOT / "compose" / "docker-compose.yml"
    engine_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ready_timeout_s: float = Field(default=300.0, gt=0)


class Settings(BaseSettings):
    """All of fraudctl's configuration, one object, read once."""

    model_config = SettingsConfigDict(
        env_prefix="FRAUDCTL_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    state_dir: Path = Path.home() / ".fraudctl"
    jars_dir: Path = Path.home() / ".cache" / "fraudctl" / "jars"
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    flink: FlinkSettings = FlinkSettings()
    gateway: GatewaySettings = GatewaySettings()
    dashboard: DashboardSettings = DashboardSettings()
    job: JobSettings = JobSettings()
    model: ModelSettings = ModelSettings()
    compose: ComposeSettings = ComposeSettings()
    simulate: SimulateSettings = SimulateSettings()

    _secrets_from_file: frozenset[tuple[str, str]] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _dedupe_outlives_restore(self) -> Settings:
        need = self.job.oldest_restore_s
        if self.redis.alert_dedupe_ttl_s < need:
            raise ValueError(
                f"redis.alert_dedupe_ttl_s ({self.redis.alert_dedupe_ttl_s} s) is shorter than "
                f"the oldest checkpoint the job may restore from ({need} s: checkpoint interval "
                "x retained checkpoints + checkpoint timeout + job.max_restore_age_s), so a "
                "resumed job would alert twice: raise FRAUDCTL_REDIS__ALERT_DEDUPE_TTL_S to at "
                f"least {need} or lower FRAUDCTL_JOB__MAX_RESTORE_AGE_S"
            )
        return self

    @model_validator(mode="after")
    def _secrets_from_state_dir(self) -> Settings:
        self.fill_secrets()
        return self

    def fill_secrets(self) -> list[str]:
        """Fill every secret not given explicitly from the state dir's secrets file.

        In place, so a settings object shared by a test session sees the secrets `up`
        generated after it was made; returns the names filled now.
        """
        from_file = load_secrets(self.state_dir)
        filled = []
        for spec in SPECS:
            section = getattr(self, spec.section)
            value = from_file.get(spec.name, "")
            if value and not getattr(section, spec.field).get_secret_value():
                setattr(section, spec.field, SecretStr(value))
                filled.append(spec.name)
                self._secrets_from_file |= {(spec.section, spec.field)}
        return filled

    def secrets_from_file(self) -> frozenset[tuple[str, str]]:
        """(section, field) of the secrets read from the state dir, not given explicitly."""
        return self._secrets_from_file


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def settings_with(overrides: dict[str, Any]) -> Settings:
    """Settings from the environment with CLI overrides applied (dotted keys, None skipped)."""
    first = Settings()
    base = first.model_dump()
    for section, field in first.secrets_from_file():
        # Read from the default state dir's file: the chosen state dir may have its own.
        base[section][field] = SecretStr("")
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = base
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return Settings(**base)


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as FRAUDCTL_… variables, so child processes read the very same values.

    Secrets read from the state dir's file are left out: children read that file themselves
    (it is named by FRAUDCTL_STATE_DIR), so the values do not sit in every environment.
    """
    env: dict[str, str] = {}
    from_file = settings.secrets_from_file()
    for key, value in settings.model_dump().items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                if (key, sub) in from_file or sub_value is None:
                    continue
                env[f"FRAUDCTL_{key.upper()}__{sub.upper()}"] = _env_value(sub_value)
        else:
            env[f"FRAUDCTL_{key.upper()}"] = _env_value(value)
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def gateway_auth_headers(settings: Settings | None = None) -> dict[str, str]:
    """The header fraudctl's own clients send the gateway: its API key, when there is one.

    Sent even while the gateway does not require it, so turning `require_auth` on needs no
    client change.
    """
    key = (settings or get_settings()).gateway.api_key.get_secret_value()
    return {"x-api-key": key} if key else {}
