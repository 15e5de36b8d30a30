"""The detection model: one feature implementation for training and the Flink job.

transaction (the Kafka record) -> features (per-user state, `update_and_extract`) ->
scorer (portable Isolation Forest) + reasons -> detector (`Decision`). generator,
population and patterns make labelled Faker traffic; training, export and evaluation
build and judge the model; artifacts holds it and `ensure_model`.
"""
