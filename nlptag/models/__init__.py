"""Plain ``nn.Module`` networks: embeddings, encoders, heads, CRF."""
