"""The social-security portal (社保): contribution histories, harvested by screen."""
