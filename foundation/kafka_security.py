"""Kafka client security (TLS, SASL) from the settings, for every client the code base makes,
and the readers' common consumer options (`reader_config`).

Two spellings of the security options: librdkafka's (confluent-kafka: gateway, CLI readers,
topic admin) and the Java client's (Flink's Kafka connectors). The local broker listens on
loopback only and speaks PLAINTEXT, so by default both are empty and change nothing.
"""

from __future__ import annotations

from typing import Any

from foundation.settings import KafkaSettings

_JAAS_MODULE = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def _uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol.startswith("SASL")


def _uses_tls(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol.endswith("SSL")


def librdkafka_security(kafka: KafkaSettings) -> dict[str, str]:
    """Options to merge into a confluent-kafka Producer/Consumer/AdminClient config."""
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    config = {"security.protocol": kafka.security_protocol.lower()}
    if _uses_tls(kafka) and kafka.ssl_ca_location is not None:
        config["ssl.ca.location"] = str(kafka.ssl_ca_location)
    if _uses_sasl(kafka):
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username
        config["sasl.password"] = kafka.sasl_password.get_secret_value()
    return config


def reader_config(kafka: KafkaSettings, group: str, **extra: Any) -> dict[str, Any]:
    """A confluent-kafka Consumer config for a tool that reads, never commits, and stays
    quiet about a broker that is down (it reports that itself): the one place the readers'
    common options live. `extra` adds or overrides librdkafka options."""
    return {
        "bootstrap.servers": kafka.bootstrap,
        **librdkafka_security(kafka),
        "group.id": group,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "error_cb": _ignore_error,
        **extra,
    }


def _ignore_error(_error: object) -> None:
    """Connection errors are surfaced by the caller's own timeouts, not logged per retry."""


def java_security(kafka: KafkaSettings) -> dict[str, str]:
    """Java Kafka client properties (Flink's KafkaSource/KafkaSink, `properties.*` options).

    The CA is given as a PEM file (`ssl.truststore.type=PEM`), like librdkafka's.
    """
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    props: dict[str, str] = {"security.protocol": kafka.security_protocol}
    if _uses_tls(kafka) and kafka.ssl_ca_location is not None:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = str(kafka.ssl_ca_location)
    if _uses_sasl(kafka):
        user = _jaas_quote(kafka.sasl_username)
        password = _jaas_quote(kafka.sasl_password.get_secret_value())
        props["sasl.mechanism"] = kafka.sasl_mechanism
        props["sasl.jaas.config"] = (
            f'{_JAAS_MODULE[kafka.sasl_mechanism]} required username="{user}" '
            f'password="{password}";'
        )
    return props


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
