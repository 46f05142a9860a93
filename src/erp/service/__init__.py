"""Customer service: what a rep reads and does across domains (the order's whole case)."""
