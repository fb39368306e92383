"""The operator dashboard's read model."""
