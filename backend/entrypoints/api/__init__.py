"""HTTP entry point (FastAPI): thin routes that parse, call a service and map errors."""
