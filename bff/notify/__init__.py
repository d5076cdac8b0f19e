"""Asynchronous work on customer events: the dispatcher to RabbitMQ, workers, push senders."""
