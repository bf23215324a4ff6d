"""Provisioning CLI for the AWS stack (python -m infra plan|up|status|down|policy|push-image)."""
