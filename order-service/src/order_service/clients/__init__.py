"""Clients of the services order-service depends on."""
