"""Workflow files: API-format prompts (this package grows UI-format support and parameters)."""
from .api_format import apply_assignments, check_api_prompt, load_api_prompt, parse_assignment, seed_inputs, vary_seed

__all__ = ["apply_assignments", "check_api_prompt", "load_api_prompt", "parse_assignment", "seed_inputs", "vary_seed"]
