"""What the host calls: webhooks, the pricing and redeem hooks, and blinker signals."""
