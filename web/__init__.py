"""Flask app factory and blueprints (portal, api, org)."""
