"""Kafka: the embedded broker supervisor and the live event feed."""
