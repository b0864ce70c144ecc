"""Automations (seed 002): a trigger (a customer created, subscribed, an order paid, a
customer joining a group or segment, a coupon given) runs an action (give a coupon)."""
