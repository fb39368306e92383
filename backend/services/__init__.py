"""Service layer: use cases that combine the domain with adapters inside a unit of work."""
