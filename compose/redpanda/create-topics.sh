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
)

# Like the local broker: a mistyped topic name is an error, not a new empty topic.
rpk cluster config set auto_create_topics_enabled false -X "admin.hosts=${FRAUDCTL_KAFKA__HOST}:9644" ||
  echo "warning: could not turn off topic auto-creation; continuing" >&2

for topic in "${topics[@]}"; do
  if out=$(rpk topic create "$topic" --partitions "$partitions" --replicas 1 \
    -X "brokers=$brokers" 2>&1); then
    echo "$out"
  elif grep -q TOPIC_ALREADY_EXISTS <<<"$out"; then
    echo "topic $topic already exists (to add partitions: rpk topic add-partitions $topic --num N)"
  else
    echo "could not create topic $topic on $brokers:" >&2
    echo "$out" >&2
    exit 1
  fi
done
rpk topic list -X "brokers=$brokers"
