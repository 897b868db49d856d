"""The four gRPC services: preparer, runner, grader and gateway."""
