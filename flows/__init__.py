"""Composition: the CLI and the Prefect flows and deployments. The only package importing Prefect."""
