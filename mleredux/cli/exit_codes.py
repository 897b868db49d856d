"""Exit codes of the `mleredux` command, shared by every subcommand."""

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # the command worked, but the run, grade or check it reports on did not succeed
EXIT_ERROR = 2  # the command itself could not do its job (one clear line on stderr)
EXIT_INTERRUPTED = 130
