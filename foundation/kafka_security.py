"""Kafka client security (TLS, SASL) from the settings, for every client the code base makes.

Two spellings of the same options: librdkafka's (confluent-kafka: gateway, CLI readers,
topic admin) and the Java client's (Flink's Kafka connectors). The local broker listens on
loopback only and speaks PLAINTEXT, so by default both are empty and change nothing.
"""

from __future__ import annotations

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
