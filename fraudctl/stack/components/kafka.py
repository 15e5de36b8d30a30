"""Apache Kafka in KRaft mode: one combined broker+controller from the Maven Central jars."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from foundation.kafka_topics import KafkaTopicError, admin_client, ensure_topics, pipeline_topics
from fraudctl.stack.components.base import Component
from fraudctl.stack.errors import StackError
from fraudctl.stack.jars import Jars
from fraudctl.stack.prereqs import check_java

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.controller.name = kafka.controller
logger.controller.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka
logger.clients.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
"""


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64, never starting with '-'.

    (Kafka's own Uuid.randomUuid skips those too: a leading '-' reads as a CLI flag.)
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaComponent(Component):
    name = "kafka"
    health_timeout_s = 180.0

    def __init__(self, *args: object, jars: Jars, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.jars = jars

    def ports(self) -> list[tuple[str, int]]:
        cfg = self.settings.kafka
        return [(cfg.host, cfg.port), (cfg.host, cfg.controller_port)]

    @property
    def server_properties(self) -> Path:
        return self.paths.conf(self.name) / "server.properties"

    def _properties(self) -> str:
        cfg = self.settings.kafka
        data = self.paths.data(self.name)
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{cfg.host}:{cfg.controller_port}",
                f"listeners=PLAINTEXT://{cfg.host}:{cfg.port},"
                f"CONTROLLER://{cfg.host}:{cfg.controller_port}",
                f"advertised.listeners=PLAINTEXT://{cfg.host}:{cfg.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={data}",
                f"num.partitions={cfg.partitions}",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )

    def prepare(self) -> None:
        conf = self.paths.conf(self.name)
        data = self.paths.data(self.name)
        conf.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        self.server_properties.write_text(self._properties())
        (conf / "log4j2.properties").write_text(LOG4J2)
        if not (data / "meta.properties").exists():
            self._format_storage(data)

    def _format_storage(self, data: Path) -> None:
        cluster_id = new_cluster_id()
        argv = [
            *self._java_prefix(),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.server_properties),
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(
                f"formatting Kafka storage in {data} failed (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-2000:]}\n"
                "If the directory holds data of another cluster, run `fraudctl down --purge`."
            )

    def _java_prefix(self) -> list[str]:
        conf = self.paths.conf(self.name)
        return [
            check_java(),
            "-Xms256m",
            f"-Xmx{self.settings.kafka.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={conf / 'log4j2.properties'}",
            "-cp",
            self.jars.kafka_classpath,
        ]

    def argv(self) -> list[str]:
        return [*self._java_prefix(), "kafka.Kafka", str(self.server_properties)]

    def _admin(self) -> Any:
        return admin_client(self.settings.kafka.bootstrap, timeout_s=2.0)

    def probe(self, log_since_start: str) -> str | None:
        try:
            meta = self._admin().list_topics(timeout=2)
        except KafkaException as exc:
            return f"metadata request failed: {exc}"
        if not meta.brokers:
            return "no broker in the metadata yet"
        return None

    def after_healthy(self) -> None:
        """Create the pipeline's topics (auto-creation is off: a typo must not make one)."""
        cfg = self.settings.kafka
        try:
            ensure_topics(cfg.bootstrap, pipeline_topics(cfg), admin=self._admin())
        except KafkaTopicError as error:
            raise StackError(str(error)) from None

    def url(self) -> str | None:
        return f"kafka://{self.settings.kafka.bootstrap}"

    def port_flag(self) -> str:
        return "--kafka-port / FRAUDCTL_KAFKA__PORT (controller: FRAUDCTL_KAFKA__CONTROLLER_PORT)"
