from .unet_model import UNet

__all__ = ["UNet"]
