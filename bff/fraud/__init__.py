"""Fraud screening's machinery: the features of a transfer, the simulator that makes training data,
and the learned risk model. The decisions themselves are the domain's (`bff.domain.fraud`)."""
