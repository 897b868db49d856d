"""Model access: the operator's model endpoints, and what a run is granted of them."""
