"""Solving a problem document on demand: the API route and the service the CLI shares."""
