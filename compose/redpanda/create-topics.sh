#!/usr/bin/env bash
# One-shot: create the pipeline's topics on Redpanda (idempotent), as the local stack does
# for its Kafka broker. Names and partition count come from the FRAUDCTL_KAFKA__* settings.
set -euo pipefail

brokers="${FRAUDCTL_KAFKA__HOST}:${FRAUDCTL_KAFKA__PORT}"
partitions="${FRAUDCTL_KAFKA__PARTITIONS}"
topics=(
  "${FRAUDCTL_KAFKA__TRANSACTIONS_TOPIC}"
  "${FRAUDCTL_KAFKA__DLQ_TOPIC}"
  "${FRAUDCTL_KAFKA__SCORES_TOPIC}"
  "${FRAUDCTL_KAFKA__LABELS_TOPIC:-transaction-labels}"
)
# Per-topic settings, as foundation/kafka_topics.py declares them for the local broker.
declare -A topic_config=(
  ["${FRAUDCTL_KAFKA__LABELS_TOPIC:-transaction-labels}"]="-c retention.ms=${FRAUDCTL_KAFKA__LABELS_RETENTION_MS:-7776000000}"
)

# Like the local broker: a mistyped topic name is an error, not a new empty topic.
rpk cluster config set auto_create_topics_enabled false -X "admin.hosts=${FRAUDCTL_KAFKA__HOST}:9644" ||
  echo "warning: could not turn off topic auto-creation; continuing" >&2

for topic in "${topics[@]}"; do
  # shellcheck disable=SC2086  # the config is a list of flags
  if out=$(rpk topic create "$topic" --partitions "$partitions" --replicas 1 \
    ${topic_config[$topic]:-} -X "brokers=$brokers" 2>&1); then
    echo "$out"
  elif grep -q TOPIC_ALREADY_EXISTS <<<"$out"; then
    echo "topic $topic already exists (to add partitions: rpk topic add-partitions $topic --num N)"
  else
    echo "could not create topic $topic on $brokers:" >&2
    echo "$out" >&2
    exit 1
  fi
done
# Rules are a compacted log read in order: one partition.
rules="${FRAUDCTL_KAFKA__RULES_TOPIC:-fraud-rules}"
if out=$(rpk topic create "$rules" --partitions 1 --replicas 1 -c cleanup.policy=compact \
  -X "brokers=$brokers" 2>&1); then
  echo "$out"
elif ! grep -q TOPIC_ALREADY_EXISTS <<<"$out"; then
  echo "could not create topic $rules on $brokers:" >&2
  echo "$out" >&2
  exit 1
fi
rpk topic list -X "brokers=$brokers"
