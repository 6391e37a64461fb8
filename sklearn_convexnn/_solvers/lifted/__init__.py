"""The lifted quadratic model: polynomial networks, quantized networks and CNNs."""
