"""Jobs: the single-track pipeline that the CLI, the server and the workers all run."""
