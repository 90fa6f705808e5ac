from .unet_model import NORMS, UNet

__all__ = ["NORMS", "UNet"]
