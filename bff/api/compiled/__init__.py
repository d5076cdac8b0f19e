"""Compiled execution: a validated query document turned, once, into an executor specialised
for its exact selection (`plan.compile_operation`), run per request by `executor.execute_plan`
with the same results, errors, paths and null propagation as graphql-core's executor."""
