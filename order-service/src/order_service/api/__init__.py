"""HTTP routes: parse the request, call the service, answer with a response model."""
