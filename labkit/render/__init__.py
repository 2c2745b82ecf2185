"""Renderers that turn motion into frames: the face latent decoder and the landmark warp for real photos."""
