"""The one settings object of fraudctl.

Every port, path and name is read here once, from defaults, `FRAUDCTL_…` environment
variables (nested with `__`, e.g. `FRAUDCTL_KAFKA__PORT=19092`) and CLI flags that the CLI
passes as overrides. Nothing else in the code reads the environment for configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK = "127.0.0.1"
JOB_NAME = "Stateful Fraud Detection with Redis Alerts"
REPO_ROOT = Path(__file__).resolve().parent.parent

Port = int


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port {value} is out of range: use a number from 1 to 65535")
    return value


class KafkaSettings(BaseModel):
    """The local KRaft broker and the topics of the pipeline."""

    host: str = LOOPBACK
    port: Port = 9092
    controller_port: Port = 9093
    transactions_topic: str = "transactions"
    dlq_topic: str = "transactions-dlq"
    scores_topic: str = "transaction-scores"
    partitions: int = Field(default=2, ge=1, le=64)
    heap: str = "512m"

    _port = field_validator("port", "controller_port")(_check_port)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class RedisSettings(BaseModel):
    """Redis: the alert stream and the labels hash."""

    host: str = LOOPBACK
    port: Port = 6379
    alerts_stream: str = "fraud:alerts"
    labels_key: str = "fraud:labels"
    stream_maxlen: int = Field(default=100_000, ge=100)
    alert_dedupe_ttl_s: int = Field(default=86_400, ge=60)  # replayed alerts are dropped
    server_binary: str = "redis-server"

    _port = field_validator("port")(_check_port)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


class FlinkSettings(BaseModel):
    """The standalone Flink session cluster from the PyFlink distribution."""

    host: str = LOOPBACK
    rest_port: Port = 8081
    rpc_port: Port = 6123
    taskmanager_rpc_port: Port = 6124
    blob_port: Port = 6130
    taskmanager_data_port: Port = 6131
    slots: int = Field(default=4, ge=1, le=32)  # the job takes 2; room for a second
    jobmanager_memory: str = "1024m"
    taskmanager_memory: str = "1728m"
    job_name: str = JOB_NAME

    _port = field_validator(
        "rest_port", "rpc_port", "taskmanager_rpc_port", "blob_port", "taskmanager_data_port"
    )(_check_port)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"


class GatewaySettings(BaseModel):
    """The payment gateway (FastAPI)."""

    host: str = LOOPBACK
    port: Port = 8000
    app: str = "gateway.api.app:create_app"
    workers: int = Field(default=1, ge=1, le=64)
    card_secret: SecretStr = SecretStr("fraudctl-local-dev-card-secret")
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    produce_timeout_s: float = Field(default=5.0, gt=0)
    health_timeout_s: float = Field(default=1.0, gt=0, le=30)
    linger_ms: int = Field(default=5, ge=0, le=1000)
    max_amount: float = Field(default=1_000_000.0, gt=0)

    _port = field_validator("port")(_check_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class DashboardSettings(BaseModel):
    """The web dashboard (FastAPI + WebSocket)."""

    host: str = LOOPBACK
    port: Port = 8080
    app: str = "gateway.dashboard.app:app"
    history: int = Field(default=50, ge=0, le=10_000)

    _port = field_validator("port")(_check_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class JobSettings(BaseModel):
    """The PyFlink scoring job."""

    parallelism: int = Field(default=1, ge=1, le=64)
    checkpoint_interval_ms: int = Field(default=5_000, ge=100)
    out_of_orderness_ms: int = Field(default=5_000, ge=0)
    state_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    execution_mode: str = "thread"
    # How long a user's transaction may wait for earlier ones still in flight (0: score on
    # arrival, no reordering; fastest). See flink_job/ordering.py.
    reorder_hold_ms: int = Field(default=100, ge=0, le=10_000)

    @field_validator("execution_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("thread", "process"):
            raise ValueError(f"execution_mode {value!r} is not known: use 'thread' or 'process'")
        return value


class SimulateSettings(BaseModel):
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


class ModelSettings(BaseModel):
    """Where the trained model lives."""

    artifacts_dir: Path = REPO_ROOT / "models" / "artifacts"


class ComposeSettings(BaseModel):
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def settings_with(overrides: dict[str, Any]) -> Settings:
    """Settings from the environment with CLI overrides applied (dotted keys, None skipped)."""
    base = Settings().model_dump()
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
    """The settings as FRAUDCTL_… variables, so child processes read the very same values."""
    env: dict[str, str] = {}
    for key, value in settings.model_dump().items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                env[f"FRAUDCTL_{key.upper()}__{sub.upper()}"] = _env_value(sub_value)
        else:
            env[f"FRAUDCTL_{key.upper()}"] = _env_value(value)
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)
