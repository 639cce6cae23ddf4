"""Text and image encoders: pretrained backbones split into a frozen trunk and a trainable top."""
