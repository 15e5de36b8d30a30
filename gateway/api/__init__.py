"""The payment gateway API: validated card transactions into Kafka (see app.py)."""
