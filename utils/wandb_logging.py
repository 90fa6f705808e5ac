"""Optional Weights & Biases logging that never blocks training.

Without an API key the run is logged offline (sync later with `wandb sync`); if wandb is missing or
fails to start, training goes on without it.
"""
import logging
import os


def init_wandb(enabled: bool, project: str, config: dict):
    """A wandb run, or None when disabled or unavailable."""
    if not enabled:
        return None
    try:
        import wandb
    except ImportError:
        logging.warning("--wandb given but wandb is not installed (pip install wandb); continuing without it")
        return None
    has_key = bool(os.environ.get("WANDB_API_KEY")) or os.path.exists(os.path.expanduser("~/.netrc"))
    if "WANDB_MODE" not in os.environ and not has_key:
        os.environ["WANDB_MODE"] = "offline"
        logging.info("wandb: no API key found, logging offline to ./wandb (upload later with `wandb sync`)")
    try:
        return wandb.init(project=project, config=config, settings=wandb.Settings(init_timeout=30))
    except Exception as error:  # network, auth, anything: logging must never stop training
        logging.warning(f"wandb could not start ({type(error).__name__}: {error}); continuing without it")
        return None
