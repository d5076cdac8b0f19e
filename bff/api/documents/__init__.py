"""Trusted documents at request time: which document a request runs, by hash or text, under the
mode the settings choose (open, with automatic persisted queries, or trusted)."""
