"""The audit trail's integrity: hash-chain verification and signed anchors of the chain heads."""
