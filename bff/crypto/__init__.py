"""Encryption at rest: the data key ring, envelope encryption of personal fields, blind indexes."""
